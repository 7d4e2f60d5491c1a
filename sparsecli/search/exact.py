"""Exact top-k search: every posting of every query term is scored."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparsecli.index.inverted import InvertedIndex, quantized
from sparsecli.io.vectors import SparseVectors


class Ranking(NamedTuple):
    docs: np.ndarray  # int32 [n_queries, k]: document numbers, best first
    scores: np.ndarray  # float32 [n_queries, k]
    counts: np.ndarray  # int32 [n_queries]: how many of the k columns are filled


def search(
    index: InvertedIndex,
    queries: SparseVectors,
    k: int,
    exclude: np.ndarray | None = None,
    batch_size: int = 2048,
) -> Ranking:
    import numba

    from sparsecli.kernels.topk import search_taat
    from sparsecli.search.batches import in_batches, positive_rows

    def kernel(q_ptr, q_terms, q_weights, skip, docs, scores, counts, lo, hi):
        search_taat(
            index.term_ptr,
            index.post_docs,
            index.post_weights,
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
