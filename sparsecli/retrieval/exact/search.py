"""Exact top-k search over an inverted index, by the algorithm the config names."""

from __future__ import annotations

import numpy as np

from sparsecli.io.vectors import SparseVectors
from sparsecli.retrieval.exact.config import ExactAlgorithm
from sparsecli.retrieval.exact.index import InvertedIndex, quantized
from sparsecli.retrieval.ranking import Ranking


def search(
    index: InvertedIndex,
    queries: SparseVectors,
    k: int,
    exclude: np.ndarray | None = None,
    batch_size: int = 2048,
    algorithm: ExactAlgorithm = ExactAlgorithm.taat,
) -> Ranking:
    """Top-k of every query: document numbers and float32 scores, ranked by score, then doc
    id descending. `exclude[q]` >= 0 leaves that document out of query q's results. The
    algorithms return identical rankings and score bits; they differ only in speed."""
    from sparsecli.retrieval.exact.maxscore import search_maxscore
    from sparsecli.retrieval.exact.taat import search_taat

    kernel_fn, lists = search_taat, (index.term_ptr, index.post_docs, index.post_weights)
    if algorithm == ExactAlgorithm.maxscore:
        kernel_fn, lists = search_maxscore, (*lists, index.term_max)
    return _run_kernel(kernel_fn, lists, index, queries, k, exclude, batch_size)


def _run_kernel(kernel_fn, arrays: tuple, index, queries: SparseVectors, k: int, exclude, batch_size: int) -> Ranking:
    """An exact kernel with search_taat's contract, its own index arrays first, over every
    query in batches."""
    import numba

    from sparsecli.kernels import frozen
    from sparsecli.retrieval.ranking import in_batches, positive_rows

    arrays = tuple(frozen(a) for a in arrays)
    id_rank, doc_by_rank = frozen(index.id_rank), frozen(index.doc_by_rank)

    def kernel(q_ptr, q_terms, q_weights, skip, docs, scores, counts, lo, hi):
        kernel_fn(
            *arrays,
            q_ptr,
            q_terms,
            q_weights,
            id_rank,
            doc_by_rank,
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
