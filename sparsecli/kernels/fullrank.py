"""Full ranking for recommendation: each user's scores over every item, in one pass per user.

Per row: the pessimistic rank of the target, 1 + #{j != t : s_j >= s_t} (ties count against
it), and the top k items in run order: score descending; ties by item number ascending, the
target last among its ties, so the list agrees with the rank. NaN and -inf scores (the
history mask writes -inf) are neither listed nor counted; a target scored so is a miss
(rank 0). Rank keys and the heap are kernels/topk.py's, with the tie order as the low bits.

The kernel is serial and releases the GIL: the caller runs one per thread on its own block
of users, so a block's scores are ranked while they are still in cache (ranking.py).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from sparsecli.kernels.topk import LOW32, drain, offer, rank_key, score_of

# The lowest finite float32: `x >= LOWEST` is false exactly for -inf and NaN, so one compare
# per item skips both.
LOWEST = np.float32(np.finfo(np.float32).min)


@nb.njit(inline="always")
def _tie_order(item, target, n_items):
    """Low key bits: larger comes first among equal scores; the target comes last."""
    return 0 if item == target else n_items - item


@nb.njit(nogil=True, cache=True)
def rank_block(scores, users, indptr, history, targets, k, out_rank, out_items, out_scores):
    """Rank one block of users.

    scores float32 [B, N], C-contiguous, overwritten: row i is user users[i]'s scores, and
    that user's history (items history[indptr[u]:indptr[u + 1]]) is set to -inf first; pass
    an indptr of zeros to mask nothing. targets int64 [U]; k >= 1 (lists shorter than k end
    in item -1, score -inf). Writes row users[i] of out_rank int64 [U], out_items int32 [U, k],
    out_scores float32 [U, k]. Item numbers (history, targets) must be < N: not checked here.
    A listed score of -0.0 is written as 0.0 (the device path keeps -0.0: same ranking).
    """
    n_items = scores.shape[1]
    heap = np.empty(k, dtype=np.uint64)
    ordered = np.empty(k, dtype=np.uint64)
    scratch = np.empty(1, dtype=np.float32)
    view = scratch.view(np.uint32)
    for i in range(scores.shape[0]):
        row = scores[i]
        user = users[i]
        target = targets[user]
        for p in range(indptr[user], indptr[user + 1]):
            row[history[p]] = -np.inf
        target_score = row[target]
        reachable = target_score >= LOWEST
        ahead = 0
        if reachable:
            for j in range(n_items):  # branch-free, so it vectorises
                ahead += row[j] >= target_score
            ahead -= 1  # the target itself
        size = 0
        floor = LOWEST  # the heap's lowest score once full: most items fail this one compare
        for j in range(n_items):
            value = row[j]
            if value >= floor:
                scratch[0] = value + np.float32(0.0)  # -0.0 becomes 0.0: one tie, one key
                size = offer(heap, size, k, rank_key(view[0], _tie_order(j, target, n_items)))
                if size == k:
                    floor = score_of(heap[0], scratch, view)
        out_rank[user] = ahead + 1 if reachable else 0
        drain(heap, size, ordered)
        for q in range(k):
            if q < size:
                low = np.int64(ordered[q] & LOW32)
                out_items[user, q] = target if low == 0 else n_items - low
                out_scores[user, q] = score_of(ordered[q], scratch, view)
            else:
                out_items[user, q] = -1
                out_scores[user, q] = -np.inf
