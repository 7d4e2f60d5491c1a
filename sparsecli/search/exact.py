"""Exact top-k search: term-at-a-time accumulation over every posting, or MaxScore."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparsecli.index.inverted import InvertedIndex, quantized
from sparsecli.io.vectors import SparseVectors


class Ranking(NamedTuple):
    docs: np.ndarray  # int32 [n_queries, k]: document numbers, best first
    scores: np.ndarray  # float32 [n_queries, k]
    counts: np.ndarray  # int32 [n_queries]: how many of the k columns are filled


ALGORITHMS = ("auto", "taat", "maxscore")
# auto picks MaxScore for a query only when it is short and its lists are long relative to
# k. Measured, one thread (scripts/bench_exact.py): 1M-doc BM25-like synthetic, 5.5 terms a
# query: MaxScore 1.9x faster at k=10, 1.2x at k=100, 0.54x at k=1000; the same with 11
# terms a query: 0.95x at k=10; SciFact BM25 (5k docs): 0.45x at k=10; SPLADE-like (30
# terms, 300k docs): 0.06x.
MAXSCORE_MAX_TERMS = 8
MAXSCORE_MIN_POSTINGS_PER_K = 10_000


def maxscore_pays(index: InvertedIndex, q_ptr: np.ndarray, q_terms: np.ndarray, k: int) -> np.ndarray:
    """Per query row: whether auto runs it with MaxScore."""
    lengths = np.concatenate([[0], np.cumsum(np.diff(index.term_ptr)[q_terms])])
    postings = lengths[q_ptr[1:]] - lengths[q_ptr[:-1]]
    return (np.diff(q_ptr) <= MAXSCORE_MAX_TERMS) & (postings >= MAXSCORE_MIN_POSTINGS_PER_K * k)


def search(
    index: InvertedIndex,
    queries: SparseVectors,
    k: int,
    exclude: np.ndarray | None = None,
    batch_size: int = 2048,
    algorithm: str = "auto",
) -> Ranking:
    """Top-k of every query. The algorithms return identical rankings and scores; they
    differ only in speed."""
    import numba

    from sparsecli.kernels.maxscore import search_maxscore
    from sparsecli.kernels.topk import search_taat
    from sparsecli.search.batches import in_batches, positive_rows

    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown exact search algorithm {algorithm!r}; use one of {ALGORITHMS}")

    def run(name, q_ptr, q_terms, q_weights, skip, docs, scores, counts):
        lists = (index.term_ptr, index.post_docs, index.post_weights)
        if name == "maxscore":
            lists += (index.term_max,)
        (search_maxscore if name == "maxscore" else search_taat)(
            *lists,
            q_ptr,
            q_terms,
            q_weights,
            index.id_rank,
            index.doc_by_rank,
            skip,
            k,
            numba.get_num_threads(),
            docs,
            scores,
            counts,
        )

    def kernel(q_ptr, q_terms, q_weights, skip, docs, scores, counts, lo, hi):
        if algorithm != "auto":
            return run(algorithm, q_ptr, q_terms, q_weights, skip, docs, scores, counts)
        chosen = maxscore_pays(index, q_ptr, q_terms, k)
        for name, rows in (("taat", np.flatnonzero(~chosen)), ("maxscore", np.flatnonzero(chosen))):
            if len(rows) == len(chosen):
                return run(name, q_ptr, q_terms, q_weights, skip, docs, scores, counts)
            if len(rows):  # the rows as a CSR of their own, results scattered back
                sub_ptr, sub_terms, sub_weights = csr_rows(q_ptr, q_terms, q_weights, rows)
                sub = (np.zeros((len(rows), k), np.int32), np.zeros((len(rows), k), np.float32))
                sub_counts = np.zeros(len(rows), np.int32)
                run(name, sub_ptr, sub_terms, sub_weights, skip[rows], *sub, sub_counts)
                docs[rows], scores[rows], counts[rows] = sub[0], sub[1], sub_counts

    # Queries get the index's quantization, so both sides are integers when it is set.
    rows = positive_rows(queries, quantized(queries.data, index.quantize))
    return in_batches(rows, k, exclude, batch_size, kernel)


def csr_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, rows: np.ndarray):
    """The given rows of a CSR matrix, as a CSR matrix."""
    lengths = indptr[rows + 1] - indptr[rows]
    new_ptr = np.zeros(len(rows) + 1, dtype=indptr.dtype)
    np.cumsum(lengths, out=new_ptr[1:])
    take = np.repeat(indptr[rows] - new_ptr[:-1], lengths) + np.arange(new_ptr[-1])
    return new_ptr, indices[take], data[take]
