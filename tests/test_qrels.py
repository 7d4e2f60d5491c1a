"""Judgments checked the same way for every reader: integer grades, each pair once."""

import pytest

from sparsecli.data.qrels import Duplicates, absent_from, checked, grade
from sparsecli.data.types import Qrel
from sparsecli.errors import InputError

JUDGED = [
    Qrel("q1", "a", 2, "qrels:2"),
    Qrel("q1", "b", 1, "qrels:3"),
    Qrel("q1", "a", 0, "qrels:4"),
    Qrel("q1", "a", 3, "qrels:5"),
]


@pytest.mark.parametrize("value, expected", [(2, 2), ("2", 2), (2.0, 2), ("-1", -1), (True, 1), (" 3 ", 3)])
def test_integer_grades(value, expected):
    assert grade(value, "x") == expected


@pytest.mark.parametrize("value", ["0.2", 1.5, "high", "inf", float("nan"), None])
def test_grades_that_are_not_integers_are_refused(value):
    with pytest.raises(InputError) as raised:
        grade(value, "qrels:7")
    assert raised.value.line() == f"qrels:7: relevance {str(value)!r} is not an integer; use integer grades"


def test_a_pair_judged_twice_names_both_judgments():
    with pytest.raises(InputError) as raised:
        checked(JUDGED)
    assert raised.value.line() == (
        "qrels:4: query q1 judges document a twice: grade 2 at qrels:2 and grade 0 here; remove one "
        "judgment, or choose which counts: data.qrels_duplicates=first|last|max"
    )


@pytest.mark.parametrize(
    "policy, grades",
    [(Duplicates.first, {"a": 2, "b": 1}), (Duplicates.last, {"a": 3, "b": 1}), (Duplicates.max, {"a": 3, "b": 1})],
)
def test_duplicate_policies(policy, grades):
    kept = checked(JUDGED, policy)
    assert [q.doc_id for q in kept] == ["a", "b"]  # the order pairs first appear in
    assert {q.doc_id: q.relevance for q in kept} == grades


def test_max_keeps_the_first_of_equal_grades():
    kept = checked([Qrel("q", "a", 1, "x:1"), Qrel("q", "a", 1, "x:2")], Duplicates.max)
    assert kept == [Qrel("q", "a", 1, "x:1")]


def test_judged_documents_absent_from_the_corpus():
    assert absent_from(JUDGED[:2], {"b", "c"}) == [JUDGED[0]]
