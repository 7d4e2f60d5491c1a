"""Exact top-k search: every posting of every query term is scored."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparsecli import ui
from sparsecli.index.inverted import InvertedIndex, quantized
from sparsecli.io.vectors import SparseVectors, drop_zeros


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

    # Queries get the index's quantization; non-positive weights are dropped, since a term
    # that cannot raise a score would only waste work (and zero sums mark untouched docs).
    q_data = quantized(queries.data, index.quantize)
    q_indptr, q_indices, q_data = drop_zeros(
        np.asarray(queries.indptr), np.asarray(queries.indices), np.maximum(q_data, 0)
    )
    n = queries.n_rows
    docs = np.zeros((n, k), dtype=np.int32)
    scores = np.zeros((n, k), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int32)
    if exclude is None:
        exclude = np.full(n, -1, dtype=np.int32)
    with ui.progress("search", total=n, unit="queries") as bar:
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            start, end = q_indptr[lo], q_indptr[hi]
            search_taat(
                index.term_ptr,
                index.post_docs,
                index.post_weights,
                q_indptr[lo : hi + 1] - start,
                q_indices[start:end],
                q_data[start:end],
                index.id_rank,
                index.doc_by_rank,
                exclude[lo:hi],
                k,
                numba.get_num_threads(),
                docs[lo:hi],
                scores[lo:hi],
                counts[lo:hi],
            )
            bar.advance(hi - lo)
    return Ranking(docs, scores, counts)
