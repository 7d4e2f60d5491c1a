"""Shared pieces of every top-k kernel: rank keys and a min-heap of the k best.

Ranking order: score descending, then document id descending, the order trec_eval and
ir-measures use to break ties, so a run's ranks and its evaluation always agree. `id_rank`
holds each document's position among all ids sorted as UTF-8 bytes, and `doc_by_rank` is
its inverse. Each candidate becomes one uint64 key, (float32 score bits << 32) | id rank,
whose integer order is the ranking order.
"""

from __future__ import annotations

import numba as nb
import numpy as np

SIGN = np.uint32(0x80000000)
LOW32 = np.uint64(0xFFFFFFFF)


@nb.njit(inline="always")
def rank_key(score_bits, id_rank):
    """uint64 that orders like (float32 score, id rank); score_bits is the float's bit pattern."""
    if score_bits & SIGN:
        ordered = ~score_bits  # negative floats: larger bit patterns are smaller numbers
    else:
        ordered = score_bits | SIGN
    return (np.uint64(ordered) << np.uint64(32)) | np.uint64(id_rank)


@nb.njit(inline="always")
def score_of(key, f32, u32):
    """The float32 score of a rank key; f32 and u32 are two views of one 4-byte scratch."""
    ordered = np.uint32(key >> np.uint64(32))
    u32[0] = ordered ^ SIGN if ordered & SIGN else ~ordered
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
def drain(heap, size, out):
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
        out_doc[r] = doc_by_rank[np.int64(key & LOW32)]
        out_score[r] = score_of(key, f32, u32)
    return size


@nb.njit(inline="always")
def floor_of(heap, size, k):
    """Score bits below which nothing can enter the heap (scores are non-negative, so their
    bits order like the floats); 1 until the heap is full, so that zeros never enter."""
    return np.uint32(heap[0] >> np.uint64(32)) & ~SIGN if size == k else np.uint32(1)
