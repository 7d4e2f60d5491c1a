"""Top-k selection over a query's score accumulator, by the accumulator's shape:

- dense (the query touched at least a quarter of the documents) and k <= n_docs / 32: a
  floor from strided group maxima leaves about k candidates to sort (top_by_group_floor);
- otherwise up to k = 64 (HEAP_MAX), a k-heap that rejects a score below the k-th before its
  key is made (heap_of_scores);
- otherwise, keys bucketed by their top 12 bits (sign, exponent and 3 mantissa bits of the
  score), so only the buckets that reach the k-th key are ever sorted, by MSD radix
  (largest_sorted).

Every selection returns rank keys (sparsecli.kernels.topk), best first.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from sparsecli.kernels.topk import LOW32, drain, floor_of, offer, rank_key

_BUCKET_SHIFT = np.uint64(52)  # keys >> 52: the top 12 bits
_BUCKETS = 4096
_INSERTION_MAX = 32  # ranges up to this size are insertion-sorted, larger ones radix-sorted
HEAP_MAX = 64  # up to this k, selection by a k-heap beats bucketing the candidates


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
def heap_of_scores(acc_bits, touched, n_candidates, dense, id_rank, skip, k, heap, out):
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
    return drain(heap, size, out)


_FLOOR_SHIFT = np.uint32(17)  # floor buckets 1/64 octave wide: 256 of them span 4 octaves
FLOOR_BUCKETS = 256


@nb.njit(inline="always")
def group_count(need, n_docs):
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
    for d in range(FLOOR_BUCKETS):
        hist[d] = 0
    for g in range(n_groups):
        hist[min(np.uint32(top_bucket - (maxima[g] >> _FLOOR_SHIFT)), np.uint32(FLOOR_BUCKETS - 1))] += 1
    floor = np.uint32(1)
    reached = 0
    for d in range(FLOOR_BUCKETS - 1):
        reached += hist[d]
        if reached >= need:
            floor = max(floor, (top_bucket - np.uint32(d)) << _FLOOR_SHIFT)
            break
    return floor


# Not inlined: inlined into search_taat's prange body it returned wrong documents (numba
# 0.68.1), and one call a query costs nothing measurable.
@nb.njit(cache=True)
def top_by_group_floor(
    acc_bits, n_docs, n_groups, need, id_rank, skip, k, maxima, groups, hist, candidates, keys, scratch
):
    """Top k of a dense accumulator without a per-document heap. A floor that at least
    `need` group maxima reach is reached by at least `need` documents (need = k, plus one
    when a document is excluded, as it may hold one of those maxima), so only the groups
    whose maximum reaches it are scanned, branch-free, and their ~need candidates sorted.
    Faster than the heap at every k it serves (README, `make bench-exact`)."""
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
        span = rank_key(top, 0) ^ rank_key(floor, 0) | LOW32
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
