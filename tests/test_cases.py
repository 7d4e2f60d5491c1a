"""The failing cases of ../shared/cases (real reports), each with the value its README states.

rec/ is tested in test_rec_cases.py; prune/ waits for its command.
"""

import json
from pathlib import Path

import pytest

from conftest import SHARED_DATA, error_line

CASES = SHARED_DATA.parent / "cases"


@pytest.fixture
def case(request) -> Path:
    folder = CASES / request.param / "data"
    if not folder.is_dir():
        pytest.skip(f"shared case not found at {folder}")
    return folder


@pytest.mark.parametrize("case", ["duplicate-qrels"], indirect=True)
def test_duplicate_qrels_name_both_lines_unless_a_policy_is_chosen(sparse, runs, case):
    qrels = case / "qrels" / "test.tsv"
    refused = sparse("encode", "data=beir", f"data.path={case}")
    assert refused.exit_code == 3
    assert error_line(refused) == (
        f"error: {qrels}:4: query q1 judges document k1 twice: grade 2 at {qrels}:2 and grade 0 here; remove one "
        "judgment, or choose which counts: data.qrels_duplicates=first|last|max"
    )
    assert not (runs / "encode").exists() or not any((runs / "encode").iterdir())
    for policy, grade in (("first", 2), ("last", 0), ("max", 2)):
        chosen = sparse("encode", "data=beir", f"data.path={case}", f"data.qrels_duplicates={policy}")
        assert chosen.exit_code == 0, chosen.stderr
        assert (chosen.run_dir / "qrels.txt").read_text() == f"q1 0 k1 {grade}\nq1 0 k2 1\n"


@pytest.mark.parametrize("case", ["float-grades"], indirect=True)
def test_float_grades_are_refused_with_file_and_line(sparse, runs, case):
    result = sparse("encode", "data=beir", f"data.path={case}")
    assert result.exit_code == 3
    assert (
        error_line(result)
        == f"error: {case / 'qrels' / 'test.tsv'}:2: relevance '0.2' is not an integer; use integer grades"
    )


@pytest.mark.parametrize("case", ["splade-long-doc"], indirect=True)
def test_a_document_length_beyond_the_model_is_refused_before_any_work(sparse, runs, case):
    model = SHARED_DATA.parent / "models" / "splade-tiny"
    if not model.is_dir():
        pytest.skip(f"{model} not found")
    result = sparse(
        "encode",
        "data=beir",
        f"data.path={case}",
        "encoder=splade",
        f"encoder.model={model}",
        "encoder.doc.max_length=1024",
    )
    assert result.exit_code == 2
    assert error_line(result) == (
        f"error: encoder.doc.max_length: 1024 tokens, but {model} has 512 positions; "
        "pass encoder.doc.max_length=512 or less"
    )
    assert not runs.exists()


def ranked(path: Path) -> dict[str, list[tuple[float, str]]]:
    """{query: [(score, doc), ...]} of a TREC run, best first, ties by doc id: so that runs
    that break ties differently compare equal."""
    run: dict[str, list[tuple[float, str]]] = {}
    for line in path.read_text().splitlines():
        query, _, doc, _, score, _ = line.split()
        run.setdefault(query, []).append((float(score), doc))
    return {q: sorted(rows, key=lambda row: (-row[0], row[1])) for q, rows in run.items()}


@pytest.mark.parametrize("case, ndcg", [("analyzer-porter", 0.8770), ("analyzer-symbols", 1.0)], indirect=["case"])
def test_analyzer_cases_give_lucenes_run(sparse, runs, case, ndcg):
    enc = sparse("encode", "data=beir", f"data.path={case}")
    idx = sparse("index", f"encode_run={enc.run_dir}")
    srch = sparse("search", f"index_run={idx.run_dir}")
    ev = sparse("eval", f"search_run={srch.run_dir}")
    assert ev.exit_code == 0, ev.stderr
    ours, lucene = ranked(srch.run_dir / "run.trec"), ranked(case.parent / "expected.lucene.run.trec")
    assert ours.keys() == lucene.keys()
    for query, expected in lucene.items():
        assert [doc for _, doc in ours[query]] == [doc for _, doc in expected], query
        assert [score for score, _ in ours[query]] == pytest.approx([score for score, _ in expected], rel=1e-5)
    assert round(json.loads((ev.run_dir / "metrics.json").read_text())["nDCG@10"], 4) == ndcg
