"""Document reordering by recursive graph bisection (BP: Dhulipala et al., KDD 2016).

Documents sharing terms end up at nearby positions, so a block of consecutive positions holds
similar documents and its per-term maxima bound its scores tightly. Each range of positions is
split in two halves; documents whose terms are more common in the other half swap across, for
a fixed number of rounds; then each half is split again, down to the leaf size. The cost a
swap lowers is the log-gap cost of the posting lists: a term held by d1 of the n1 documents
on one side and d2 of n2 on the other costs d1 log(n1 / (d1 + 1)) + d2 log(n2 / (d2 + 1)).

Deterministic: every tie breaks by position, and the halves of a level are independent of
the thread that takes them.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(inline="always")
def _cost(d, n):
    return d * np.log2(n / (d + 1.0))


@nb.njit(cache=True)
def _bisect(perm, lo, mid, hi, fwd_ptr, fwd_terms, rounds, scratch):
    """Swap documents between perm[lo:mid] and perm[mid:hi] so that each side holds similar ones."""
    deg_a, deg_b, move_a, move_b, gains, order_a, order_b = scratch
    n_a, n_b = mid - lo, hi - mid
    for _ in range(rounds):
        for i in range(lo, hi):
            d = perm[i]
            side = deg_a if i < mid else deg_b
            for j in range(fwd_ptr[d], fwd_ptr[d + 1]):
                side[fwd_terms[j]] += 1
        # For each term, what moving one of its holders across saves, either way.
        for i in range(lo, hi):
            d = perm[i]
            for j in range(fwd_ptr[d], fwd_ptr[d + 1]):
                t = fwd_terms[j]
                a, b = deg_a[t], deg_b[t]
                before = _cost(a, n_a) + _cost(b, n_b)
                if a > 0:
                    move_a[t] = before - _cost(a - 1, n_a) - _cost(b + 1, n_b)
                if b > 0:
                    move_b[t] = before - _cost(a + 1, n_a) - _cost(b - 1, n_b)
        for i in range(lo, hi):
            d = perm[i]
            gain = 0.0
            moves = move_a if i < mid else move_b
            for j in range(fwd_ptr[d], fwd_ptr[d + 1]):
                gain += moves[fwd_terms[j]]
            gains[i - lo] = gain
        for i in range(lo, hi):
            d = perm[i]
            for j in range(fwd_ptr[d], fwd_ptr[d + 1]):
                deg_a[fwd_terms[j]] = 0
                deg_b[fwd_terms[j]] = 0
        # Stable sorts of negated gains: the largest gains first, ties by position.
        order_a[:n_a] = np.argsort(-gains[:n_a], kind="mergesort")
        order_b[:n_b] = np.argsort(-gains[n_a : n_a + n_b], kind="mergesort")
        swapped = 0
        for s in range(min(n_a, n_b)):
            ia, ib = order_a[s], order_b[s]
            if gains[ia] + gains[n_a + ib] <= 0.0:
                break
            perm[lo + ia], perm[mid + ib] = perm[mid + ib], perm[lo + ia]
            swapped += 1
        if swapped == 0:
            break


@nb.njit(cache=True, parallel=True)
def bisection_order(fwd_ptr, fwd_terms, n_terms, leaf_size, rounds, n_threads):
    """A permutation of the documents (position -> document) that groups similar ones.

    Ranges are leaf_size x 2^m wide, so every split lands on a leaf (block) boundary."""
    n = len(fwd_ptr) - 1
    perm = np.arange(n, dtype=np.int32)
    width = leaf_size
    while width < n:
        width *= 2
    while width > leaf_size:
        n_ranges = (n + width - 1) // width
        n_chunks = min(n_threads, n_ranges)
        for chunk in nb.prange(n_chunks):
            scratch = (
                np.zeros(n_terms, dtype=np.int32),  # holders of each term on either side
                np.zeros(n_terms, dtype=np.int32),
                np.zeros(n_terms, dtype=np.float64),  # gain of moving one holder across, either way
                np.zeros(n_terms, dtype=np.float64),
                np.empty(min(width, n), dtype=np.float64),  # each document's gain
                np.empty(width // 2, dtype=np.int64),  # each side's documents by gain
                np.empty(width // 2, dtype=np.int64),
            )
            for r in range(chunk * n_ranges // n_chunks, (chunk + 1) * n_ranges // n_chunks):
                lo, hi = r * width, min((r + 1) * width, n)
                mid = lo + width // 2
                if mid < hi:
                    _bisect(perm, lo, mid, hi, fwd_ptr, fwd_terms, rounds, scratch)
        width //= 2
    return perm
