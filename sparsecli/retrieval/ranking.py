"""What every search returns, and running a search kernel over a query matrix in batches."""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from sparsecli import ui
from sparsecli.io.vectors import SparseVectors, drop_zeros


class Ranking(NamedTuple):
    docs: np.ndarray  # int32 [n_queries, k]: document numbers, best first
    scores: np.ndarray  # float32 [n_queries, k]
    counts: np.ndarray  # int32 [n_queries]: how many of the k columns are filled


# kernel(q_indptr, q_terms, q_weights, exclude, out_docs, out_scores, out_counts, lo, hi)
Kernel = Callable[..., None]


def own_documents(doc_ids: list[str], query_ids: list[str]) -> np.ndarray:
    """int32 [n_queries]: the document number whose id equals each query's id, or -1: what
    drop_self excludes (BEIR's ignore_identical_ids, Anserini's -removeQuery)."""
    position = {d: i for i, d in enumerate(doc_ids)}
    return np.array([position.get(q, -1) for q in query_ids], dtype=np.int32)


def positive_rows(queries: SparseVectors, data: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query CSR without non-positive weights: such a term cannot raise a score, and positive
    contributions are what lets the kernels tell touched documents from untouched ones."""
    values = np.asarray(queries.data if data is None else data, dtype=np.float32)
    indptr, indices, values = drop_zeros(np.asarray(queries.indptr), np.asarray(queries.indices), np.maximum(values, 0))
    return indptr, indices.astype(np.int64), values


def in_batches(rows, k: int, exclude: np.ndarray | None, batch_size: int, kernel: Kernel) -> Ranking:
    indptr, indices, values = rows
    n = len(indptr) - 1
    docs = np.zeros((n, k), dtype=np.int32)
    scores = np.zeros((n, k), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int32)
    # One array type for every caller: each new type (a strided view, int64) would compile
    # the kernel again, which takes numba tens of seconds.
    exclude = np.full(n, -1, dtype=np.int32) if exclude is None else np.ascontiguousarray(exclude, dtype=np.int32)
    with ui.progress("search", total=n, unit="queries") as bar:
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            start, end = indptr[lo], indptr[hi]
            kernel(
                indptr[lo : hi + 1] - start,
                indices[start:end],
                values[start:end],
                exclude[lo:hi],
                docs[lo:hi],
                scores[lo:hi],
                counts[lo:hi],
                lo,
                hi,
            )
            bar.advance(hi - lo)
    return Ranking(docs, scores, counts)
