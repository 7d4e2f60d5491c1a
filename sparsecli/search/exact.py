"""Exact top-k search: term-at-a-time accumulation over every posting, or MaxScore."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparsecli.index.inverted import InvertedIndex, quantized
from sparsecli.io.vectors import SparseVectors
from sparsecli.search import EXACT_ALGORITHMS


class Ranking(NamedTuple):
    docs: np.ndarray  # int32 [n_queries, k]: document numbers, best first
    scores: np.ndarray  # float32 [n_queries, k]
    counts: np.ndarray  # int32 [n_queries]: how many of the k columns are filled


# taat is the default because it won every measurement, one thread (scripts/bench_exact.py):
# MaxScore's speed over taat at k=10 / 100 / 1000 was 0.10 / 0.10 / 0.18 on SciFact BM25,
# 0.45 / 0.51 / 0.28 on a 1M-doc BM25-like synthetic (5.5 terms a query) and 0.03 / 0.04 /
# 0.03 on SPLADE-like queries (30 terms, 300k docs). taat's floor-based top-k leaves MaxScore
# little to save at these sizes. Block-max pruning lost by more still (search/blockmax.py).


def search(
    index: InvertedIndex,
    queries: SparseVectors,
    k: int,
    exclude: np.ndarray | None = None,
    batch_size: int = 2048,
    algorithm: str = "taat",
) -> Ranking:
    """Top-k of every query. The algorithms return identical rankings and scores; they
    differ only in speed."""
    from sparsecli.kernels.maxscore import search_maxscore
    from sparsecli.kernels.topk import search_taat

    if algorithm not in EXACT_ALGORITHMS:
        raise ValueError(f"unknown exact search algorithm {algorithm!r}; use one of {EXACT_ALGORITHMS}")

    kernel_fn, lists = search_taat, (index.term_ptr, index.post_docs, index.post_weights)
    if algorithm == "maxscore":
        kernel_fn, lists = search_maxscore, (*lists, index.term_max)
    return run_kernel(kernel_fn, lists, index, queries, k, exclude, batch_size)


def run_kernel(kernel_fn, arrays: tuple, index, queries: SparseVectors, k: int, exclude, batch_size: int) -> Ranking:
    """An exact kernel with search_taat's contract, its own index arrays first, over every
    query in batches. `index` supplies id_rank, doc_by_rank and quantize."""
    import numba

    from sparsecli.search.batches import in_batches, positive_rows

    def kernel(q_ptr, q_terms, q_weights, skip, docs, scores, counts, lo, hi):
        kernel_fn(
            *arrays,
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

    # Queries get the index's quantization, so both sides are integers when it is set.
    rows = positive_rows(queries, quantized(queries.data, index.quantize))
    return in_batches(rows, k, exclude, batch_size, kernel)
