"""Next-item metrics from the rank of each user's one held-out item.

With one relevant item per user (leave-one-out), for a 1-based rank r and cutoff k:
- HR@k = Recall@k = [r <= k]             (RecBole's Hit; Precision@k would be HR@k / k)
- NDCG@k = [r <= k] / log2(r + 1)        (the ideal DCG of one relevant item is 1)
- MRR@k = [r <= k] / r                   (truncated at k, as ir-measures' RR@k)
Means are over every evaluated user; a user whose target cannot be ranked (masked, or
absent from a sampled list) counts as a miss (rank 0 here).

Ties count against the target (pessimistic): r = 1 + #{j != t : s_j >= s_t}, so a model
that scores every item alike ranks each target last (shared case `eval_ties_constant_score`),
and the result never depends on item numbering. NaN scores rank as -inf.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

KS = (1, 5, 10, 20)
MISS = 0  # the rank of a target that cannot be reached


def pessimistic_ranks(
    scores: torch.Tensor, targets: torch.Tensor, excluded: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Rank of each target among all items.

    scores: float [B, N], higher is better; targets: int64 [B] item numbers; excluded: bool
    [B, N] items removed from ranking (the history), or None. Returns int64 [B]: 1-based
    ranks, MISS where the target itself is excluded.
    """
    scores = torch.nan_to_num(scores, nan=float("-inf"))
    rows = torch.arange(len(targets), device=scores.device)
    target_scores = scores[rows, targets].unsqueeze(1)
    ahead = scores >= target_scores
    ahead[rows, targets] = False
    if excluded is not None:
        ahead &= ~excluded
    ranks = 1 + ahead.sum(dim=1)
    if excluded is not None:
        ranks = torch.where(excluded[rows, targets], torch.zeros_like(ranks), ranks)
    return ranks


def sampled_ranks(scores: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Rank of each target among itself and its sampled negatives (a *sampled* metric,
    Krichene & Rendle 2020: not comparable with full ranking).

    negatives: int64 [B, m] item numbers, none equal to the target. Returns int64 [B] in 1..m+1.
    """
    scores = torch.nan_to_num(scores, nan=float("-inf"))
    rows = torch.arange(len(targets), device=scores.device)
    target_scores = scores[rows, targets].unsqueeze(1)
    return 1 + (scores.gather(1, negatives) >= target_scores).sum(dim=1)


def per_user(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, np.ndarray]:
    """{measure@k: float64 [n_users]} from 1-based ranks (MISS = 0 for a miss)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    hit_any = ranks > 0
    out = {}
    for k in ks:
        hit = hit_any & (ranks <= k)
        out[f"HR@{k}"] = hit.astype(np.float64)
        out[f"NDCG@{k}"] = np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 1.0) + 1.0), 0.0)
        out[f"MRR@{k}"] = np.where(hit, 1.0 / np.where(hit, ranks, 1.0), 0.0)
    return out


def means(values: dict[str, np.ndarray]) -> dict[str, float]:
    """Means over users; Recall@k is reported beside HR@k (equal with one target)."""
    out = {}
    for name, column in values.items():
        out[name] = float(column.mean()) if len(column) else 0.0
        if name.startswith("HR@"):
            out["Recall" + name[2:]] = out[name]
    return out


def sample_negatives(targets: np.ndarray, n_items: int, m: int, seed: int) -> np.ndarray:
    """m distinct negatives per user, uniform over the items other than its target; seeded
    (numpy PCG64), so a sampled metric is reproducible. int64 [B, m]."""
    if m >= n_items:
        raise ValueError(f"cannot sample {m} negatives from {n_items - 1} items")
    rng = np.random.default_rng(seed)
    out = np.empty((len(targets), m), dtype=np.int64)
    for row, target in enumerate(targets):
        drawn = rng.choice(n_items - 1, size=m, replace=False)
        out[row] = drawn + (drawn >= target)  # skip the target: uniform over the other n-1 items
    return out
