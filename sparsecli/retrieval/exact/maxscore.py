"""Exact top-k by MaxScore (Turtle and Flood, 1995): document at a time, parallel over queries.

Each query term has an upper bound, its weight times the largest weight in its list. Terms
sorted by bound, the lowest ones whose bounds sum below the current k-th score are
"non-essential": a document found only in them cannot enter the top k. Only the essential
lists are walked; a candidate's non-essential terms are looked up (galloping search) from
the largest bound down, and only while its partial score plus the bounds left can still
reach the k-th score.

Scores are summed in the query's own term order, exactly as term-at-a-time accumulation
sums them, so both algorithms return bit-identical scores and the same ranking (score
descending, then doc id descending, through the same rank keys). Pruning compares against
the k-th score less a relative margin far above float32 rounding, so rounding can only
keep a candidate, never drop one.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from sparsecli.kernels.topk import offer, rank_key, score_of, write_ranked

_MARGIN = 1e-4  # relative: prune only below (1 - margin) x the k-th score


@nb.njit(cache=True, parallel=True)
def term_maxima(term_ptr, post_weights):
    """Each term's largest posting weight (0 for an empty list)."""
    n_terms = len(term_ptr) - 1
    out = np.zeros(n_terms, dtype=np.float32)
    for t in nb.prange(n_terms):
        for i in range(term_ptr[t], term_ptr[t + 1]):
            out[t] = max(out[t], post_weights[i])
    return out


@nb.njit(inline="always")
def _seek(post_docs, pos, end, target):
    """First position in [pos, end) whose document is >= target: gallop, then bisect."""
    if pos >= end or post_docs[pos] >= target:
        return pos
    step = 1
    while pos + step < end and post_docs[pos + step] < target:
        pos += step
        step *= 2
    lo, hi = pos + 1, min(pos + step, end)  # post_docs[pos] < target <= post_docs[hi] (or hi == end)
    while lo < hi:
        mid = (lo + hi) // 2
        if post_docs[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, parallel=True)
def search_maxscore(
    term_ptr,
    post_docs,
    post_weights,
    term_max,
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
    """Same contract as taat.search_taat, plus term_max (term_maxima of the index)."""
    n_queries = len(q_ptr) - 1
    n_docs = len(id_rank)
    n_chunks = min(n_threads, max(n_queries, 1))
    for chunk in nb.prange(n_chunks):
        lo_q = chunk * n_queries // n_chunks
        hi_q = (chunk + 1) * n_queries // n_chunks
        longest = 1
        for q in range(lo_q, hi_q):
            longest = max(longest, q_ptr[q + 1] - q_ptr[q])
        bound = np.empty(longest, dtype=np.float32)  # by query position
        contrib = np.zeros(longest, dtype=np.float32)  # by query position
        cum = np.empty(longest, dtype=np.float64)  # by bound order: sum of bounds up to here
        pos = np.empty(longest, dtype=np.int64)
        end = np.empty(longest, dtype=np.int64)
        heap = np.empty(max(k, 1), dtype=np.uint64)
        f32 = np.zeros(1, dtype=np.float32)
        u32 = f32.view(np.uint32)
        for q in range(lo_q, hi_q):
            qlo, n = q_ptr[q], q_ptr[q + 1] - q_ptr[q]
            for p in range(n):
                bound[p] = q_weights[qlo + p] * term_max[q_terms[qlo + p]]
            order = np.argsort(bound[:n], kind="mergesort")  # ascending bound
            total = 0.0
            for i in range(n):
                t = q_terms[qlo + order[i]]
                total += bound[order[i]]
                cum[i] = total
                pos[i], end[i] = term_ptr[t], term_ptr[t + 1]
            size = 0
            bar = -np.inf  # (1 - margin) x the k-th score once the heap is full
            first = 0  # terms order[first:] are essential
            skip = exclude[q]
            while True:
                doc = n_docs
                for i in range(first, n):
                    if pos[i] < end[i] and post_docs[pos[i]] < doc:
                        doc = post_docs[pos[i]]
                if doc == n_docs:
                    break
                partial = 0.0
                for i in range(first, n):
                    if pos[i] < end[i] and post_docs[pos[i]] == doc:
                        p = order[i]
                        contrib[p] = q_weights[qlo + p] * post_weights[pos[i]]
                        partial += contrib[p]
                        pos[i] += 1
                alive = True
                for i in range(first - 1, -1, -1):
                    if partial + cum[i] < bar:
                        alive = False
                        break
                    pos[i] = _seek(post_docs, pos[i], end[i], doc)
                    if pos[i] < end[i] and post_docs[pos[i]] == doc:
                        p = order[i]
                        contrib[p] = q_weights[qlo + p] * post_weights[pos[i]]
                        partial += contrib[p]
                if alive and doc != skip:
                    score = np.float32(0.0)
                    for p in range(n):  # query order, as term-at-a-time sums
                        score += contrib[p]
                    f32[0] = score
                    key = rank_key(u32[0], id_rank[doc])
                    size = offer(heap, size, k, key)
                    if size == k:
                        bar = score_of(heap[0], f32, u32) * (1.0 - _MARGIN)
                        while first < n and cum[first] < bar:
                            first += 1
                contrib[:n] = 0.0
            out_count[q] = write_ranked(heap, size, doc_by_rank, f32, u32, out_doc[q], out_score[q])
    return out_count
