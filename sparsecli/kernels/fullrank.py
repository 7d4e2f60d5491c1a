"""Full ranking for recommendation: each user's scores over every item, in one pass per user.

Per row: the pessimistic rank of the target, 1 + #{j != t : s_j >= s_t} (ties count against
it), and the top k items in run order: score descending; ties by item number ascending, the
target last among its ties, so the list agrees with the rank. NaN and -inf scores (the
history mask writes -inf) are neither listed nor counted; a target scored so is a miss
(rank 0). Rank keys and the heap are kernels/topk.py's, with the tie order as the low bits.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from sparsecli.kernels.topk import LOW32, drain, offer, rank_key, score_of


@nb.njit(inline="always")
def _tie_order(item, target, n_items):
    """Low key bits: larger comes first among equal scores; the target comes last."""
    return 0 if item == target else n_items - item


@nb.njit(parallel=True, cache=True)
def rank_rows(scores, bits, targets, k, out_rank, out_items, out_scores):
    """scores float32 [B, N] and bits (its uint32 view); targets int64 [B]; k <= N.
    Writes out_rank int64 [B], out_items int32 [B, k] (-1 past the end), out_scores float32 [B, k]."""
    n_rows, n_items = scores.shape
    for r in nb.prange(n_rows):
        target = targets[r]
        target_score = scores[r, target]
        reachable = not (np.isnan(target_score) or target_score == -np.inf)
        heap = np.empty(k, dtype=np.uint64)
        scratch = np.empty(1, dtype=np.float32)
        view = scratch.view(np.uint32)
        size = 0
        ahead = 0
        floor = -np.inf  # the heap's lowest score once full: most items fail this one compare
        for j in range(n_items):
            value = scores[r, j]
            if np.isnan(value) or value == -np.inf:
                continue
            if j != target and reachable and value >= target_score:
                ahead += 1
            if value >= floor:
                size = offer(heap, size, k, rank_key(bits[r, j], _tie_order(j, target, n_items)))
                if size == k:
                    floor = score_of(heap[0], scratch, view)
        out_rank[r] = ahead + 1 if reachable else 0
        ordered = np.empty(k, dtype=np.uint64)
        drain(heap, size, ordered)
        for i in range(k):
            if i < size:
                low = np.int64(ordered[i] & LOW32)
                out_items[r, i] = target if low == 0 else n_items - low
                out_scores[r, i] = score_of(ordered[i], scratch, view)
            else:
                out_items[r, i] = -1
                out_scores[r, i] = -np.inf
