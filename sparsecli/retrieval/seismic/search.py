"""Approximate top-k search over a Seismic index, batched or one query at a time."""

from __future__ import annotations

import numpy as np

from sparsecli.io.vectors import SparseVectors
from sparsecli.retrieval.ranking import Ranking, in_batches, positive_rows
from sparsecli.retrieval.seismic.config import ApproxSearchConfig
from sparsecli.retrieval.seismic.index import SeismicIndex


class Searcher:
    """Approximate search over one loaded index, keeping per-thread workspaces between calls
    so that a single query costs only its own work (the low-latency path)."""

    def __init__(self, index: SeismicIndex, threads: int | None = None):
        import numba

        from sparsecli.kernels import frozen
        from sparsecli.retrieval.seismic import search_kernel as kernel

        self.index = index
        self.threads = threads or numba.get_num_threads()
        a = {name: frozen(array) for name, array in index.arrays.items()}
        self.knn = a.get("knn", frozen(np.zeros((index.n_docs, 0), dtype=np.int32)))  # indexes built without a graph
        self.max_blocks = int(np.diff(a["list_block_ptr"]).max(initial=1))
        self.max_block_docs = int(np.diff(a["block_doc_ptr"]).max(initial=1))
        # The kernel's index-side arguments, made once.
        self._postings = kernel.PostingBlocks(
            list_block_ptr=a["list_block_ptr"],
            list_seg_ptr=a["list_seg_ptr"],
            block_doc_ptr=a["block_doc_ptr"],
            block_docs=a["block_docs"],
        )
        self._summaries = kernel.BlockSummaries(
            block_min=a["block_min"],
            block_step=a["block_step"],
            seg_comp_ptr=a["seg_comp_ptr"],
            sum_comp=a["sum_comp"],
            comp_count=a["comp_count"],
            comp_sample=a["comp_sample"],
            sum_block=a["sum_block"],
            sum_code=a["sum_code"],
        )
        self._forward = kernel.ForwardIndex(
            ptr=a["fwd_ptr"], entries=a["fwd_entries"], term_bits=index.term_bits, scale=np.float32(index.fwd_scale)
        )
        self._documents = kernel.DocumentTables(id_rank=a["id_rank"], doc_by_rank=a["doc_by_rank"], knn=self.knn)
        self._work = kernel.Workspaces(
            dense=np.zeros((self.threads, index.n_terms), dtype=np.float32),
            visited=np.zeros((self.threads, index.n_docs // 8 + 1), dtype=np.uint8),
        )
        self._one = None  # search_one's Results buffers, kept while k stays the same

    def _run(self, queries, k: int, params: ApproxSearchConfig, results) -> None:
        """The kernel over a search_kernel.Queries batch into a search_kernel.Results, with
        this searcher's index and workspaces."""
        from sparsecli.retrieval.seismic import search_kernel as kernel

        params.check_knn(self.knn.shape[1])
        settings = kernel.Settings(
            k=k,
            query_cut=params.query_cut,
            heap_factor=np.float32(params.heap_factor),
            n_knn=params.n_knn,
            max_blocks=self.max_blocks,
            max_block_docs=self.max_block_docs,
        )
        kernel.search_seismic(
            queries, settings, self._postings, self._summaries, self._forward, self._documents, self._work, results
        )

    def search_one(
        self, terms: np.ndarray, weights: np.ndarray, k: int, params: ApproxSearchConfig, exclude: int = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        """One query, with no per-call setup beyond the kernel: terms [n] ascending, weights [n]
        > 0 (converted to int64 and float32, the types the kernel is compiled for); `exclude`
        a document number to leave out. Returns document numbers (int32) and scores (float32),
        best first, at most k."""
        from sparsecli.retrieval.seismic import search_kernel as kernel

        if self._one is None or self._one.docs.shape[1] != k:
            self._one = kernel.Results(
                docs=np.zeros((1, k), np.int32),
                scores=np.zeros((1, k), np.float32),
                counts=np.zeros(1, np.int32),
                scored=np.zeros(1, np.int64),
            )
        query = kernel.Queries(
            ptr=np.array([0, len(terms)], dtype=np.int64),
            terms=np.asarray(terms, dtype=np.int64),
            weights=np.asarray(weights, dtype=np.float32),
            exclude=np.array([exclude], dtype=np.int32),
        )
        self._run(query, k, params, self._one)
        count = self._one.counts[0]
        return self._one.docs[0, :count].copy(), self._one.scores[0, :count].copy()

    def search(
        self,
        queries: SparseVectors,
        k: int,
        params: ApproxSearchConfig,
        exclude: np.ndarray | None = None,
        batch_size: int = 2048,
    ) -> tuple[Ranking, np.ndarray]:
        """Ranking of every query, and how many documents each query scored exactly."""
        from sparsecli.retrieval.seismic import search_kernel as kernel

        scored = np.zeros(queries.n_rows, dtype=np.int64)

        def batch(q_ptr, q_terms, q_weights, skip, docs, scores, counts, lo, hi):
            self._run(
                kernel.Queries(q_ptr, q_terms, q_weights, skip),
                k,
                params,
                kernel.Results(docs, scores, counts, scored[lo:hi]),
            )

        return in_batches(positive_rows(queries), k, exclude, batch_size, batch), scored


def search(
    index: SeismicIndex,
    queries: SparseVectors,
    k: int,
    params: ApproxSearchConfig,
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
