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
    """A TREC run as {qid: {docid: score}}; the rank column is ignored, as trec_eval does."""
    run: dict[str, dict[str, float]] = {}
    for number, line in iter_lines(path):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{number}"
        if len(parts) != 6:
            raise InputError(
                f"expected 6 fields (qid Q0 docid rank score tag), found {len(parts)}",
                where=where,
                fix="use TREC run format",
            )
        try:
            score = float(parts[4])
        except ValueError:
            raise InputError(f"score {parts[4]!r} is not a number", where=where, fix="use TREC run format") from None
        docs = run.setdefault(parts[0], {})
        if parts[2] in docs:
            raise InputError(
                f"document {parts[2]} appears twice for query {parts[0]}", where=where, fix="deduplicate the run"
            )
        docs[parts[2]] = score
    return run
