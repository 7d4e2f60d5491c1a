"""Exact top-k by term-at-a-time accumulation, parallel over queries (the default exact
search): one add per query posting into a dense accumulator, then a selection chosen by
the accumulator's shape (select.py). Ranking order and rank keys: sparsecli.kernels.topk.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from sparsecli.kernels.topk import LOW32, rank_key
from sparsecli.retrieval.exact.select import (
    FLOOR_BUCKETS,
    HEAP_MAX,
    group_count,
    heap_of_scores,
    largest_sorted,
    new_scratch,
    top_by_group_floor,
)


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

    Queries are split into one contiguous chunk per thread; each thread reuses one dense
    accumulator. A query touching many postings (at least a quarter of the collection) is
    accumulated without branches and its candidates found by one scan; otherwise the
    touched documents are listed as they first appear, and only they are visited and reset.
    `exclude[q]` >= 0 names a document to leave out of query q's results (its own id).
    Query weights must be positive.
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
        maxima = np.empty(n_docs // 4 + 1, dtype=np.uint32)  # up to n_docs / 4 groups
        groups = np.empty(n_docs // 4 + 1, dtype=np.int32)
        hist = np.empty(FLOOR_BUCKETS, dtype=np.int32)
        scratch = new_scratch(n_docs)
        top = scratch.out
        for q in range(lo, hi):
            postings = 0
            for p in range(q_ptr[q], q_ptr[q + 1]):
                postings += term_ptr[q_terms[p] + 1] - term_ptr[q_terms[p]]
            dense = 4 * postings >= n_docs
            n_candidates = 0
            for p in range(q_ptr[q], q_ptr[q + 1]):
                term, weight = q_terms[p], q_weights[p]
                # Unsigned indices: numba wraps signed ones for negative indexing, extra
                # work on every posting of the hottest loop (slower in bench_exact).
                if dense:
                    for i in range(np.uint64(term_ptr[term]), np.uint64(term_ptr[term + 1])):
                        acc[np.uint64(post_docs[i])] += weight * post_weights[i]
                else:
                    for i in range(np.uint64(term_ptr[term]), np.uint64(term_ptr[term + 1])):
                        doc = np.uint64(post_docs[i])
                        if acc[doc] == 0.0:
                            touched[n_candidates] = doc
                            n_candidates += 1
                        acc[doc] += weight * post_weights[i]
            if dense:
                n_candidates = n_docs
            skip = exclude[q]
            need = k + (skip >= 0)
            n_groups = group_count(need, n_docs)
            if dense and 0 < n_groups * 4 <= n_docs:
                count = top_by_group_floor(
                    acc_bits, n_docs, n_groups, need, id_rank, skip, k, maxima, groups, hist, touched, keys, scratch
                )
            elif k <= HEAP_MAX:
                count = heap_of_scores(acc_bits, touched, n_candidates, dense, id_rank, skip, k, scratch.tmp, top)
            else:
                n = 0
                if dense:
                    for doc in range(n_docs):
                        keys[n] = rank_key(acc_bits[doc], id_rank[doc])
                        n += (acc_bits[doc] != 0) & (doc != skip)
                else:
                    for i in range(n_candidates):
                        doc = touched[i]
                        keys[n] = rank_key(acc_bits[doc], id_rank[doc])
                        n += doc != skip
                count = largest_sorted(keys, n, k, scratch)
            for r in range(count):
                doc = doc_by_rank[np.int64(top[r] & LOW32)]
                out_doc[q, r] = doc
                out_score[q, r] = acc[doc]
            if dense:
                acc[:] = 0
            else:
                for t in range(n_candidates):
                    acc[touched[t]] = 0.0
            out_count[q] = count
    return out_count
