"""Exact top-k by term-at-a-time accumulation, parallel over queries.

Ranking order: score descending, then document id descending, the order trec_eval and
ir-measures use to break ties, so a run's ranks and its evaluation always agree. `id_rank`
holds each document's position among all ids sorted as UTF-8 bytes, and `doc_by_rank` is
its inverse.

Selection packs (score, id rank) into one uint64 whose integer order is the ranking order,
so top-k is a partition plus a sort of k integers, with no tie cases left.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_SIGN = np.uint32(0x80000000)


@nb.njit(inline="always")
def _rank_key(score_bits, id_rank):
    """uint64 that orders like (float32 score, id rank); score_bits is the float's bit pattern."""
    if score_bits & _SIGN:
        ordered = ~score_bits  # negative floats: larger bit patterns are smaller numbers
    else:
        ordered = score_bits | _SIGN
    return (np.uint64(ordered) << np.uint64(32)) | np.uint64(id_rank)


@nb.njit(inline="always")
def _sift_down(heap, size, i):
    """Restore the min-heap property below position i."""
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= heap[i]:
            return
        heap[i], heap[child] = heap[child], heap[i]
        i = child


@nb.njit(cache=True)
def largest_keys(keys, n, k):
    """The min(k, n) largest of keys[:n], sorted ascending.

    A bounded min-heap when k is small next to n (most keys fail one comparison with the
    heap's minimum), otherwise a partition; both beat sorting all n.
    """
    if n <= k:
        return np.sort(keys[:n])
    if k * 16 > n:
        return np.sort(np.partition(keys[:n], n - k)[n - k :])
    heap = keys[:k].copy()
    for i in range(k // 2 - 1, -1, -1):
        _sift_down(heap, k, i)
    for i in range(k, n):
        if keys[i] > heap[0]:
            heap[0] = keys[i]
            _sift_down(heap, k, 0)
    return np.sort(heap)


@nb.njit(cache=True)
def select_topk(keys, n, k, doc_by_rank, scores, out_doc, out_score):
    """Write the k best of keys[:n] (best first) as documents and scores; returns the count."""
    top = largest_keys(keys, n, k)
    count = len(top)
    for r in range(count):
        doc = doc_by_rank[np.int64(top[count - 1 - r] & np.uint64(0xFFFFFFFF))]
        out_doc[r] = doc
        out_score[r] = scores[doc]
    return count


@nb.njit(cache=True, parallel=True)
def search_taat(
    term_ptr,
    post_docs,
    post_weights,
    q_ptr,
    q_terms,
    q_weights,
    id_rank,
    doc_by_rank,
    exclude,
    k,
    n_threads,
    out_doc,
    out_score,
    out_count,
):
    """For each query row, accumulate scores over its terms' postings and keep the top k.

    Queries are split into one contiguous chunk per thread, so each thread reuses a single
    dense accumulator and resets only the entries it touched. `exclude[q]` >= 0 names a
    document to leave out of query q's results (its own id).
    """
    n_queries = len(q_ptr) - 1
    n_docs = len(id_rank)
    n_chunks = min(n_threads, max(n_queries, 1))  # numba.get_num_threads() here would defeat caching
    for chunk in nb.prange(n_chunks):
        lo = chunk * n_queries // n_chunks
        hi = (chunk + 1) * n_queries // n_chunks
        acc = np.zeros(n_docs, dtype=np.float32)
        acc_bits = acc.view(np.uint32)
        touched = np.empty(n_docs, dtype=np.int32)
        keys = np.empty(n_docs, dtype=np.uint64)
        for q in range(lo, hi):
            n_touched = 0
            for p in range(q_ptr[q], q_ptr[q + 1]):
                term = q_terms[p]
                weight = q_weights[p]
                for i in range(term_ptr[term], term_ptr[term + 1]):
                    doc = post_docs[i]
                    if acc[doc] == 0.0:
                        touched[n_touched] = doc
                        n_touched += 1
                    acc[doc] += weight * post_weights[i]
            n_keys = 0
            for t in range(n_touched):
                doc = touched[t]
                if doc != exclude[q]:
                    keys[n_keys] = _rank_key(acc_bits[doc], id_rank[doc])
                    n_keys += 1
            out_count[q] = select_topk(keys, n_keys, k, doc_by_rank, acc, out_doc[q], out_score[q])
            for t in range(n_touched):
                acc[touched[t]] = 0.0
    return out_count
