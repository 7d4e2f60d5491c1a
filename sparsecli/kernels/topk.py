"""Exact top-k by term-at-a-time accumulation, parallel over queries.

Ranking order: score descending, then document id descending, the order trec_eval and
ir-measures use to break ties, so a run's ranks and its evaluation always agree. `id_rank`
holds each document's position among all ids sorted as UTF-8 bytes.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(inline="always")
def _better(score_a, rank_a, score_b, rank_b):
    return score_a > score_b or (score_a == score_b and rank_a > rank_b)


@nb.njit(inline="always")
def _sift_down(heap_score, heap_doc, id_rank, size, i):
    """Restore the min-heap (worst result on top) below position i."""
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        worst = left
        right = left + 1
        if right < size and _better(
            heap_score[worst], id_rank[heap_doc[worst]], heap_score[right], id_rank[heap_doc[right]]
        ):
            worst = right
        if _better(heap_score[i], id_rank[heap_doc[i]], heap_score[worst], id_rank[heap_doc[worst]]):
            heap_score[i], heap_score[worst] = heap_score[worst], heap_score[i]
            heap_doc[i], heap_doc[worst] = heap_doc[worst], heap_doc[i]
            i = worst
        else:
            return


@nb.njit(inline="always")
def _sift_up(heap_score, heap_doc, id_rank, i):
    while i > 0:
        parent = (i - 1) // 2
        if _better(heap_score[parent], id_rank[heap_doc[parent]], heap_score[i], id_rank[heap_doc[i]]):
            heap_score[parent], heap_score[i] = heap_score[i], heap_score[parent]
            heap_doc[parent], heap_doc[i] = heap_doc[i], heap_doc[parent]
            i = parent
        else:
            return


@nb.njit(cache=True)
def select_topk(candidates, n_candidates, scores, id_rank, k, out_doc, out_score):
    """Best k of `candidates[:n]` by (score, id_rank) descending, written sorted; returns the count."""
    heap_doc = np.empty(k, dtype=np.int32)
    heap_score = np.empty(k, dtype=np.float32)
    size = 0
    for c in range(n_candidates):
        doc = candidates[c]
        score = scores[doc]
        if size < k:
            heap_doc[size] = doc
            heap_score[size] = score
            _sift_up(heap_score, heap_doc, id_rank, size)
            size += 1
        elif _better(score, id_rank[doc], heap_score[0], id_rank[heap_doc[0]]):
            heap_doc[0] = doc
            heap_score[0] = score
            _sift_down(heap_score, heap_doc, id_rank, size, 0)
    # Pop the worst repeatedly into the back of the output: best ends up first.
    count = size
    while size > 0:
        size -= 1
        out_doc[size] = heap_doc[0]
        out_score[size] = heap_score[0]
        heap_doc[0] = heap_doc[size]
        heap_score[0] = heap_score[size]
        _sift_down(heap_score, heap_doc, id_rank, size, 0)
    return count


@nb.njit(cache=True, parallel=True)
def search_taat(term_ptr, post_docs, post_weights, q_ptr, q_terms, q_weights, id_rank, exclude, k, n_threads, out_doc, out_score, out_count):
    """For each query row, accumulate scores over its terms' postings and keep the top k.

    Queries are split into one contiguous chunk per thread, so each thread reuses a single
    dense accumulator and resets only the entries it touched. `exclude[q]` >= 0 names a
    document to leave out of query q's results (its own id); the outputs need k + 1 columns.
    """
    n_queries = len(q_ptr) - 1
    n_docs = len(id_rank)
    n_chunks = min(n_threads, max(n_queries, 1))  # numba.get_num_threads() here would defeat caching
    for chunk in nb.prange(n_chunks):
        lo = chunk * n_queries // n_chunks
        hi = (chunk + 1) * n_queries // n_chunks
        acc = np.zeros(n_docs, dtype=np.float32)
        touched = np.empty(n_docs, dtype=np.int32)
        for q in range(lo, hi):
            n_touched = 0
            for p in range(q_ptr[q], q_ptr[q + 1]):
                term = q_terms[p]
                if term >= len(term_ptr) - 1:
                    continue
                weight = q_weights[p]
                for i in range(term_ptr[term], term_ptr[term + 1]):
                    doc = post_docs[i]
                    if acc[doc] == 0.0:
                        touched[n_touched] = doc
                        n_touched += 1
                    acc[doc] += weight * post_weights[i]
            skip = exclude[q]
            count = select_topk(touched, n_touched, acc, id_rank, k + (1 if skip >= 0 else 0), out_doc[q], out_score[q])
            if skip >= 0:
                kept = 0
                for r in range(count):
                    if out_doc[q, r] != skip:
                        out_doc[q, kept] = out_doc[q, r]
                        out_score[q, kept] = out_score[q, r]
                        kept += 1
                count = min(kept, k)
            out_count[q] = count
            for t in range(n_touched):
                acc[touched[t]] = 0.0
    return out_count
