"""TREC run and qrels files.

Runs are `qid Q0 docid rank score tag`, written byte-for-byte reproducibly: scores with 9
significant digits (enough to round-trip float32, so no ties are invented), and gzip with a
zero timestamp and no file name in its header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from sparsecli.data.qrels import grade
from sparsecli.data.types import Qrel
from sparsecli.errors import InputError
from sparsecli.io.textfile import iter_lines


def format_scores(scores: np.ndarray) -> list[str]:
    return [f"{s:.9g}" for s in scores.astype(np.float64).tolist()]


def run_lines(query_id: str, doc_ids: Sequence[str], scores: np.ndarray, tag: str) -> str:
    formatted = format_scores(scores)
    return "".join(f"{query_id} Q0 {d} {r} {s} {tag}\n" for r, (d, s) in enumerate(zip(doc_ids, formatted), start=1))


def ranking_lines(ranking, query_ids: Sequence[str], doc_ids: Sequence[str], tag: str) -> Iterator[str]:
    """A retrieval.ranking.Ranking (document numbers, best first) as TREC run lines."""
    for q, query_id in enumerate(query_ids):
        count = ranking.counts[q]
        yield run_lines(query_id, [doc_ids[d] for d in ranking.docs[q, :count]], ranking.scores[q, :count], tag)


def read_qrels(path: Path) -> Iterator[Qrel]:
    """TREC qrels: `qid iteration docid relevance`, whitespace separated."""
    for number, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InputError(
                f"expected 4 fields (qid iter docid rel), found {len(parts)}",
                where=f"{path}:{number}",
                fix="use TREC qrels format",
            )
        where = f"{path}:{number}"
        yield Qrel(parts[0], parts[2], grade(parts[3], where), where)


def qrels_text(qrels: Iterable[Qrel]) -> Iterator[str]:
    for qrel in qrels:
        yield f"{qrel.query_id} 0 {qrel.doc_id} {qrel.relevance}\n"


def read_run(path: Path) -> dict[str, dict[str, float]]:
    """A run as {qid: {docid: score}}, gzipped or not, in the layout of its first line: TREC's
    six columns (`qid Q0 docid rank score tag`; the rank is ignored, as trec_eval does) or MS
    MARCO's three (`qid docid rank`, scored -rank so that the order is the file's ranks)."""
    run: dict[str, dict[str, float]] = {}
    columns = 0
    for number, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{number}"
        columns = columns or (3 if len(parts) == 3 else 6)
        if len(parts) != columns:
            layout = "qid Q0 docid rank score tag" if columns == 6 else "qid docid rank, as the first line"
            raise InputError(
                f"expected {columns} fields ({layout}), found {len(parts)}",
                where=where,
                fix="use TREC run format (or MS MARCO's three columns throughout)",
            )
        value, doc = (parts[4], parts[2]) if columns == 6 else (parts[2], parts[1])
        try:
            score = float(value) if columns == 6 else -float(int(value))
        except ValueError:
            raise InputError(
                f"score {value!r} is not a number" if columns == 6 else f"rank {value!r} is not an integer",
                where=where,
                fix="use TREC run format",
            ) from None
        docs = run.setdefault(parts[0], {})
        if doc in docs:
            raise InputError(
                f"document {doc} appears twice for query {parts[0]}", where=where, fix="deduplicate the run"
            )
        docs[doc] = score
    return run
