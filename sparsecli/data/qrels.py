"""Relevance judgments, checked the same way whatever reader produced them.

trec_eval's rules: a grade is an integer, and a (query, document) pair is judged once. A
reader turns each grade with `grade`, which refuses 0.2 or 1.5 rather than truncating them;
`checked` then finds pairs judged twice and, unless the user chose a policy, stops with both
places named. Judgments of documents that are not in the corpus are legal (BEIR's ArguAna
has them) but can never be retrieved, so `absent_from` lets the encode command say so.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator

from sparsecli.data.types import Qrel
from sparsecli.errors import InputError


class Duplicates(Enum):
    """What a (query, document) pair judged more than once keeps."""

    error = "error"  # stop, naming both judgments (trec_eval refuses such qrels)
    first = "first"  # the first judgment in file order
    last = "last"  # the last one
    max = "max"  # the highest grade


def grade(value: Any, where: str) -> int:
    """A judgment's grade as an int: integers, and strings or floats holding one ("2", 2.0).
    Raises InputError naming `where` for anything else (0.2, 1.5, "high", inf)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not number.is_integer():
        raise InputError(f"relevance {str(value)!r} is not an integer", where=where, fix="use integer grades")
    return int(number)


def checked(
    qrels: Iterable[Qrel], duplicates: Duplicates = Duplicates.error, policy: str | None = "data.qrels_duplicates"
) -> list[Qrel]:
    """The judgments with each (query, document) pair once, in the order pairs first appear.
    Raises InputError at the second judgment of a pair under Duplicates.error; its fix names
    the setting `policy` that chooses another way (None: there is none, edit the file)."""
    kept: dict[tuple[str, str], Qrel] = {}
    for qrel in qrels:
        pair = (qrel.query_id, qrel.doc_id)
        earlier = kept.get(pair)
        if earlier is None:
            kept[pair] = qrel
        elif duplicates == Duplicates.error:
            raise InputError(
                f"query {qrel.query_id} judges document {qrel.doc_id} twice: grade {earlier.relevance} at "
                f"{earlier.where} and grade {qrel.relevance} here",
                where=qrel.where,
                fix=f"remove one judgment, or choose which counts: {policy}=first|last|max"
                if policy
                else "remove one judgment (trec_eval refuses qrels that judge a pair twice)",
            )
        elif duplicates == Duplicates.last or (duplicates == Duplicates.max and qrel.relevance > earlier.relevance):
            kept[pair] = qrel
    return list(kept.values())


def absent_from(qrels: Iterable[Qrel], doc_ids: set[str]) -> list[Qrel]:
    """The judgments whose document is not among `doc_ids`, in order."""
    return [qrel for qrel in qrels if qrel.doc_id not in doc_ids]


def read_file(path: Path) -> Iterator[Qrel]:
    """Judgments from a file in either layout people have, told apart by its first line: BEIR's
    TSV (`query-id<TAB>corpus-id<TAB>score`, with or without its header) or TREC qrels
    (`qid iter docid rel`); gzipped or not. Raises InputError naming file:line."""
    from sparsecli.data import beir
    from sparsecli.io import trec
    from sparsecli.io.textfile import iter_lines

    first = next((line for _, line in iter_lines(path) if line.strip()), "")
    tsv = len(first.split("\t")) == 3 or first.split("\t")[0].strip() in beir.QRELS_HEADER
    return beir.read_qrels(path) if tsv else trec.read_qrels(path)
