"""Approximate top-k search over a Seismic index."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparsecli.errors import ConfigError
from sparsecli.index.seismic import SeismicIndex
from sparsecli.io.vectors import SparseVectors
from sparsecli.search.batches import in_batches, positive_rows
from sparsecli.search.exact import Ranking


class ApproxParams(NamedTuple):
    query_cut: int = 10  # only the query's largest terms open their posting lists
    heap_factor: float = 0.9  # stop at the first block whose summary score < heap_factor x the k-th score
    n_knn: int = 0  # also score this many graph neighbours of every result (the index needs knn >= n_knn)


# The index arrays search_seismic takes, in its order.
_KERNEL_ARRAYS = (
    "list_block_ptr",
    "list_seg_ptr",
    "block_doc_ptr",
    "block_docs",
    "block_min",
    "block_step",
    "seg_comp_ptr",
    "sum_comp",
    "comp_count",
    "comp_sample",
    "sum_block",
    "sum_code",
    "fwd_ptr",
    "fwd_entries",
)


class Searcher:
    """Approximate search over one loaded index, keeping per-thread workspaces between calls
    so that a single query costs only its own work (the low-latency path)."""

    def __init__(self, index: SeismicIndex, threads: int | None = None):
        import numba

        self.index = index
        self.threads = threads or numba.get_num_threads()
        self.dense = np.zeros((self.threads, index.n_terms), dtype=np.float32)
        self.visited = np.zeros((self.threads, index.n_docs // 8 + 1), dtype=np.uint8)
        a = index.arrays
        self.max_blocks = int(np.diff(a["list_block_ptr"]).max(initial=1))
        self.max_block_docs = int(np.diff(a["block_doc_ptr"]).max(initial=1))
        self.knn = a.get("knn", np.zeros((index.n_docs, 0), dtype=np.int32))  # indexes built without a graph
        self._index_args = (
            *(a[name] for name in _KERNEL_ARRAYS),
            index.term_bits,
            np.float32(index.fwd_scale),
            a["id_rank"],
            a["doc_by_rank"],
        )
        self._one = None  # output buffers of search_one, kept while k stays the same

    def _run(self, rows, k, params, skip, docs, scores, counts, scored) -> None:
        """The kernel over query rows (indptr, terms, weights), with this searcher's workspaces."""
        from sparsecli.kernels.seismic import search_seismic

        if params.n_knn > self.knn.shape[1]:
            raise ConfigError(
                f"search.n_knn={params.n_knn} but the index holds {self.knn.shape[1]} neighbours a document",
                where="search.n_knn",
                fix=f"lower search.n_knn to <= {self.knn.shape[1]}, or rebuild with index.knn={params.n_knn}",
            )
        q_ptr, q_terms, q_weights = rows
        search_seismic(
            q_ptr,
            q_terms,
            q_weights,
            k,
            params.query_cut,
            np.float32(params.heap_factor),
            *self._index_args,
            skip,
            self.knn,
            params.n_knn,
            self.max_blocks,
            self.max_block_docs,
            self.dense,
            self.visited,
            docs,
            scores,
            counts,
            scored,
        )

    def search_one(
        self, terms: np.ndarray, weights: np.ndarray, k: int, params: ApproxParams, exclude: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """One query (terms ascending, weights > 0), with no per-call setup beyond the kernel:
        document numbers and scores, best first."""
        if self._one is None or self._one[0].shape[1] != k:
            self._one = (
                np.zeros((1, k), np.int32),
                np.zeros((1, k), np.float32),
                np.zeros(1, np.int32),
                np.zeros(1, np.int64),
            )
        docs, scores, count, scored = self._one
        rows = (np.array([0, len(terms)], dtype=np.int64), terms, weights)
        self._run(rows, k, params, np.array([exclude], dtype=np.int32), docs, scores, count, scored)
        return docs[0, : count[0]].copy(), scores[0, : count[0]].copy()

    def search(
        self,
        queries: SparseVectors,
        k: int,
        params: ApproxParams,
        exclude: np.ndarray | None = None,
        batch_size: int = 2048,
    ) -> tuple[Ranking, np.ndarray]:
        """Ranking of every query, and how many documents each query scored exactly."""
        scored = np.zeros(queries.n_rows, dtype=np.int64)

        def kernel(q_ptr, q_terms, q_weights, skip, docs, scores, counts, lo, hi):
            self._run((q_ptr, q_terms, q_weights), k, params, skip, docs, scores, counts, scored[lo:hi])

        return in_batches(positive_rows(queries), k, exclude, batch_size, kernel), scored


def search(
    index: SeismicIndex,
    queries: SparseVectors,
    k: int,
    params: ApproxParams,
    exclude: np.ndarray | None = None,
    batch_size: int = 2048,
) -> tuple[Ranking, np.ndarray]:
    """One-off batch search; keep a Searcher to serve many calls."""
    return Searcher(index).search(queries, k, params, exclude, batch_size)


def accuracy(approx: Ranking, exact: Ranking, k: int) -> float:
    """Mean fraction of the exact top-k found in the approximate top-k (Seismic's accuracy@k)."""
    total = 0.0
    for q in range(len(approx.counts)):
        truth = set(exact.docs[q, : min(k, exact.counts[q])].tolist())
        if truth:
            total += len(truth & set(approx.docs[q, : min(k, approx.counts[q])].tolist())) / len(truth)
        else:
            total += 1.0
    return total / max(len(approx.counts), 1)
