"""Exact top-k by term-at-a-time accumulation, parallel over queries.

Ranking order: score descending, then document id descending, the order trec_eval and
ir-measures use to break ties, so a run's ranks and its evaluation always agree. `id_rank`
holds each document's position among all ids sorted as UTF-8 bytes, and `doc_by_rank` is
its inverse.

Each candidate becomes one uint64 key, (float32 score bits << 32) | id rank, whose integer
order is the ranking order. Three selections, by the shape of the accumulator:
- dense (the query touched at least a quarter of the documents) and k <= n_docs / 32: a
  floor from strided group maxima leaves about k candidates to sort (_top_by_group_floor);
- otherwise up to k = 64, a k-heap that rejects a score below the k-th before its key is made;
- otherwise, keys bucketed by their top 12 bits (sign, exponent and 3 mantissa bits of the
  score), so only the buckets that reach the k-th key are ever sorted, by MSD radix.
Measured on SciFact BM25, one thread, a query with its accumulation: k=10 5.1 us, k=100
9.0 us, k=1000 48 us (np.partition + np.sort took 98 us at k=1000 for the selection alone).
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

_SIGN = np.uint32(0x80000000)
_BUCKET_SHIFT = np.uint64(52)  # keys >> 52: the top 12 bits
_BUCKETS = 4096
_INSERTION_MAX = 32  # ranges up to this size are insertion-sorted, larger ones radix-sorted
_LOW32 = np.uint64(0xFFFFFFFF)
_HEAP_MAX = 64  # up to this k, selection by a k-heap beats bucketing the candidates


@nb.njit(inline="always")
def rank_key(score_bits, id_rank):
    """uint64 that orders like (float32 score, id rank); score_bits is the float's bit pattern."""
    if score_bits & _SIGN:
        ordered = ~score_bits  # negative floats: larger bit patterns are smaller numbers
    else:
        ordered = score_bits | _SIGN
    return (np.uint64(ordered) << np.uint64(32)) | np.uint64(id_rank)


@nb.njit(inline="always")
def score_of(key, f32, u32):
    """The float32 score of a rank key; f32 and u32 are two views of one 4-byte scratch."""
    ordered = np.uint32(key >> np.uint64(32))
    u32[0] = ordered ^ _SIGN if ordered & _SIGN else ~ordered
    return f32[0]


@nb.njit(inline="always")
def sift_down_min(heap, i, size):
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


@nb.njit(inline="always")
def sift_up_min(heap, i):
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= heap[i]:
            return
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent


@nb.njit(inline="always")
def _insertion_sort_desc(a, lo, hi):
    for i in range(lo + 1, hi):
        x = a[i]
        j = i - 1
        while j >= lo and a[j] < x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@nb.njit(cache=True)
def _radix_sort_desc(a, tmp, lo, hi, shift, need, scratch):
    """Sort a[lo:hi] descending by MSD radix on 8-bit digits below bit `shift`, leaving
    alone every sub-range that starts at or after `need` (those keys are not output)."""
    stack, counts, starts = scratch.stack, scratch.counts, scratch.starts
    stack[0, 0], stack[0, 1], stack[0, 2] = lo, hi, shift
    depth = 1
    while depth > 0:
        depth -= 1
        l, h, s = stack[depth, 0], stack[depth, 1], stack[depth, 2]
        if l >= need:
            continue
        if h - l <= _INSERTION_MAX or s <= 0:
            _insertion_sort_desc(a, l, h)
            continue
        s -= 8
        counts[:] = 0
        for i in range(l, h):
            counts[(a[i] >> np.uint64(s)) & np.uint64(255)] += 1
        position = l
        for b in range(255, -1, -1):
            starts[b] = position
            position += counts[b]
        for i in range(l, h):
            b = (a[i] >> np.uint64(s)) & np.uint64(255)
            tmp[starts[b]] = a[i]
            starts[b] += 1
        a[l:h] = tmp[l:h]
        for b in range(256):  # push low digits first, so the high ones are sorted first
            if counts[b] > 1:
                stack[depth, 0] = starts[b] - counts[b]
                stack[depth, 1] = starts[b]
                stack[depth, 2] = s
                depth += 1


@nb.njit(cache=True)
def largest_sorted(keys, n, k, scratch):
    """Write the min(n, k) largest of keys[:n] to scratch.out, descending; returns the count.

    Keys are bucketed by their top 12 bits; buckets above the one holding the k-th key are
    kept whole, and each kept bucket is sorted by radix (insertion sort when small).
    """
    hist, start, out = scratch.hist, scratch.start, scratch.out
    need = min(n, k)
    if need == 0:
        return 0
    hist[:] = 0
    for i in range(n):
        hist[keys[i] >> _BUCKET_SHIFT] += 1
    boundary = _BUCKETS - 1
    above = 0
    while above + hist[boundary] < need:
        above += hist[boundary]
        boundary -= 1
    position = 0
    for b in range(_BUCKETS - 1, boundary - 1, -1):
        start[b] = position
        position += hist[b]
    for i in range(n):
        b = keys[i] >> _BUCKET_SHIFT
        if b >= boundary:
            out[start[b]] = keys[i]
            start[b] += 1
    lo = 0
    for b in range(_BUCKETS - 1, boundary - 1, -1):
        hi = lo + hist[b]
        if hi - lo > _INSERTION_MAX:
            _radix_sort_desc(out, scratch.tmp, lo, hi, 52, need, scratch)
        elif hi - lo > 1:
            _insertion_sort_desc(out, lo, hi)
        lo = hi
    return need


@nb.njit(inline="always")
def _drain(heap, size, out):
    """Empty a min-heap into out, largest first."""
    for r in range(size - 1, -1, -1):  # pop the smallest into the last free slot
        out[r] = heap[0]
        heap[0] = heap[r]
        sift_down_min(heap, 0, r)
    return size


@nb.njit(inline="always")
def offer(heap, size, k, key):
    """Offer a key to a min-heap of the k largest so far; returns the new size."""
    if size < k:
        heap[size] = key
        sift_up_min(heap, size)
        return size + 1
    if key > heap[0]:
        heap[0] = key
        sift_down_min(heap, 0, size)
    return size


@nb.njit(cache=True)
def write_ranked(heap, size, doc_by_rank, f32, u32, out_doc, out_score):
    """A query's heap of rank keys into its output rows, best first; returns size.
    f32 and u32 are two views of one 4-byte scratch."""
    top = np.sort(heap[:size])
    for r in range(size):
        key = top[size - 1 - r]
        out_doc[r] = doc_by_rank[np.int64(key & _LOW32)]
        out_score[r] = score_of(key, f32, u32)
    return size


@nb.njit(inline="always")
def floor_of(heap, size, k):
    """Score bits below which nothing can enter the heap (scores are non-negative, so their
    bits order like the floats); 1 until the heap is full, so that zeros never enter."""
    return np.uint32(heap[0] >> np.uint64(32)) & ~_SIGN if size == k else np.uint32(1)


@nb.njit(inline="always")
def _heap_of_scores(acc_bits, touched, n_candidates, dense, id_rank, skip, k, heap, out):
    """The min(k, candidates) best documents' keys into out, best first, through a k-heap.
    A score below the k-th is rejected before its key is made: for small k that is almost
    every document."""
    size = 0
    floor = np.uint32(1)
    for i in range(n_candidates):
        doc = i if dense else touched[i]
        if acc_bits[doc] >= floor and doc != skip:
            size = offer(heap, size, k, rank_key(acc_bits[doc], id_rank[doc]))
            floor = floor_of(heap, size, k)
    return _drain(heap, size, out)


_FLOOR_SHIFT = np.uint32(17)  # floor buckets 1/64 octave wide: 256 of them span 4 octaves
_FLOOR_BUCKETS = 256


@nb.njit(inline="always")
def _group_count(need, n_docs):
    """Counting the group maxima costs about as much per group as scanning costs per document
    of the ~need groups that are opened, so sqrt(2 need n_docs) groups, in whole vectors."""
    return (np.int64(np.sqrt(2.0 * need * n_docs)) + 7) // 8 * 8


@nb.njit(inline="always")
def _group_maxima(acc_bits, n_docs, n_groups, maxima):
    """maxima[g]: the largest score bits among documents g, g + n_groups, g + 2 n_groups...
    Strided groups, so the max runs down columns and vectorises at any group count."""
    for g in range(n_groups):
        maxima[g] = 0
    full = np.uint64(n_docs // n_groups * n_groups)
    for base in range(np.uint64(0), full, np.uint64(n_groups)):
        for g in range(np.uint64(n_groups)):
            maxima[g] = max(maxima[g], acc_bits[base + g])
    for doc in range(full, np.uint64(n_docs)):
        maxima[doc - full] = max(maxima[doc - full], acc_bits[doc])


@nb.njit(inline="always")
def _top_of(maxima, n_groups):
    top = np.uint32(0)
    for g in range(n_groups):
        top = max(top, maxima[g])
    return top


@nb.njit(inline="always")
def _floor_reached_by(maxima, n_groups, top, need, hist):
    """Score bits that at least `need` maxima reach, at most one 1/64-octave bucket below the
    need-th largest maximum; 1 (any nonzero score) when that lies over 4 octaves below the
    top (the largest maximum)."""
    top_bucket = top >> _FLOOR_SHIFT
    for d in range(_FLOOR_BUCKETS):
        hist[d] = 0
    for g in range(n_groups):
        hist[min(np.uint32(top_bucket - (maxima[g] >> _FLOOR_SHIFT)), np.uint32(_FLOOR_BUCKETS - 1))] += 1
    floor = np.uint32(1)
    reached = 0
    for d in range(_FLOOR_BUCKETS - 1):
        reached += hist[d]
        if reached >= need:
            floor = max(floor, (top_bucket - np.uint32(d)) << _FLOOR_SHIFT)
            break
    return floor


# Not inlined: inlined into search_taat's prange body it returned wrong documents (numba
# 0.68.1), and one call a query costs nothing measurable.
@nb.njit(cache=True)
def _top_by_group_floor(
    acc_bits, n_docs, n_groups, need, id_rank, skip, k, maxima, groups, hist, candidates, keys, scratch
):
    """Top k of a dense accumulator without a per-document heap. A floor that at least
    `need` group maxima reach is reached by at least `need` documents (need = k, plus one
    when a document is excluded, as it may hold one of those maxima), so only the groups
    whose maximum reaches it are scanned, branch-free, and their ~need candidates sorted.
    On SciFact BM25 (one thread, a query with its accumulation) k=1/10/40/100 went from
    4.6/6.6/13.7/21.6 us with the heap (buckets at k=100) to 4.4/5.1/7.5/9.0 us."""
    _group_maxima(acc_bits, n_docs, n_groups, maxima)
    top = _top_of(maxima, n_groups)
    floor = _floor_reached_by(maxima, n_groups, top, need, hist)
    n_open = 0  # the groups that reach the floor, listed without a branch
    for g in range(n_groups):
        groups[n_open] = g
        n_open += maxima[g] >= floor
    rows = n_docs // n_groups
    tail = n_docs - rows * n_groups
    n = 0
    for i in range(n_open):  # their documents that reach it, without a branch
        g = groups[i]
        for row in range(rows + (g < tail)):  # a stepped range would divide to count its steps
            doc = g + row * n_groups
            candidates[n] = doc
            n += (acc_bits[doc] >= floor) & (doc != skip)
    for i in range(n):
        keys[i] = rank_key(acc_bits[candidates[i]], id_rank[candidates[i]])
    if n <= _INSERTION_MAX:
        _insertion_sort_desc(keys, 0, n)
    else:  # radix digits start at the highest bit in which the candidates' keys can differ
        span = rank_key(top, 0) ^ rank_key(floor, 0) | _LOW32
        bits = 0
        while span >> np.uint64(bits):
            bits += 1
        _radix_sort_desc(keys, scratch.tmp, 0, n, bits, k, scratch)
    count = min(k, n)
    for r in range(count):
        scratch.out[r] = keys[r]
    return count


class Scratch(NamedTuple):
    """Per-thread buffers of the selection, allocated once per kernel call."""

    hist: np.ndarray
    start: np.ndarray
    out: np.ndarray
    tmp: np.ndarray
    stack: np.ndarray
    counts: np.ndarray
    starts: np.ndarray


@nb.njit(cache=True)
def new_scratch(size):
    return Scratch(
        np.zeros(_BUCKETS, np.int64),
        np.zeros(_BUCKETS, np.int64),
        np.empty(size, np.uint64),
        np.empty(size, np.uint64),
        np.zeros((8 * 256, 3), np.int64),
        np.zeros(256, np.int64),
        np.zeros(256, np.int64),
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
        hist = np.empty(_FLOOR_BUCKETS, dtype=np.int32)
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
                # Unsigned indices: numba wraps signed ones for negative indexing, which
                # cost 0.98 ns a posting against 0.56.
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
            n_groups = _group_count(need, n_docs)
            if dense and 0 < n_groups * 4 <= n_docs:
                count = _top_by_group_floor(
                    acc_bits, n_docs, n_groups, need, id_rank, skip, k, maxima, groups, hist, touched, keys, scratch
                )
            elif k <= _HEAP_MAX:
                count = _heap_of_scores(acc_bits, touched, n_candidates, dense, id_rank, skip, k, scratch.tmp, top)
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
                doc = doc_by_rank[np.int64(top[r] & _LOW32)]
                out_doc[q, r] = doc
                out_score[q, r] = acc[doc]
            if dense:
                acc[:] = 0
            else:
                for t in range(n_candidates):
                    acc[touched[t]] = 0.0
            out_count[q] = count
    return out_count
