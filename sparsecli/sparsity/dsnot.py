"""DSnoT: training-free refinement of a pruning mask by swapping pruned and kept weights
(Zhang et al., "Dynamic Sparse No Training", ICLR 2024, Sec. 3 and Alg. 1).

For output row i, with mu_j = E[x_j] over the calibration tokens, pruning weight j moves the
row's expected output by c_ij = W_ij * mu_j. The expected reconstruction error of a mask is

    eps_i = sum over pruned j of c_ij                       (dense minus sparse, in expectation)

and each cycle lowers |eps_i| with one swap per row:
- grow the pruned weight whose c_ij has eps_i's sign and the largest |c_ij| / Var[x_j]^p
  (the paper's variance-scaled growing criterion; p = var_power);
- prune the kept weight whose c_ij has the opposite sign (or is 0) and the lowest Wanda score
  |W_ij| * ||X_j||_2 (for N:M: such a weight in the grown weight's group of M, so every group
  keeps exactly N);
- keep the swap only while |eps_i| > threshold and the swap does not flip eps_i's sign;
  a row that fails once stops, as does every row after max_cycles.

The counts per row never change, so the sparsity, and any N:M pattern, is the starting mask's.
|eps_i| therefore falls with every swap. The reference code (zyxxmu/DSnoT) can raise it: once
one side's candidates run out it takes one of the wrong sign, and for N:M it prunes the
group's lowest score whatever its sign. Here such a row stops instead.
"""

from __future__ import annotations

from typing import Optional

import torch


def _queue(valid: torch.Tensor, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the columns where `valid` by ascending key (then column), and how many there
    are: (int64 [out, in], int64 [out]); the columns past the count are not candidates."""
    order = torch.argsort(key, dim=1, stable=True)
    # then the valid ones first, in that order: a valid key of inf or NaN stays among them
    order = order.gather(1, torch.argsort((~valid).gather(1, order).to(torch.int8), dim=1, stable=True))
    return order, valid.sum(dim=1)


@torch.no_grad()
def refine(
    weight: torch.Tensor,
    keep: torch.Tensor,
    mean: torch.Tensor,
    var: torch.Tensor,
    scores: torch.Tensor,
    nm: Optional[tuple[int, int]] = None,
    max_cycles: int = 50,
    threshold: float = 0.1,
    var_power: float = 1.0,
) -> torch.Tensor:
    """A refined keep mask.

    weight float [out, in] (dense, before the mask); keep bool [out, in]; mean, var float [in]:
    E[x_j] and Var[x_j] over the calibration tokens; scores float [out, in]: Wanda's
    |W| * ||X_j||_2. nm: (N, M) when `keep` is N:M (each group keeps N). Returns bool [out, in]
    with the same count kept in every row (in every group of M, for N:M), on weight's device."""
    w = weight.detach().float()
    c = w * mean.float().to(w.device).unsqueeze(0)
    keep = keep.to(w.device, copy=True)
    rows = torch.arange(w.shape[0], device=w.device)
    eps = (c * ~keep).sum(dim=1)
    sign = torch.sign(eps)
    scale = var.float().to(w.device).clamp_min(1e-12).pow(var_power).unsqueeze(0)
    c_sign = torch.sign(c)
    scores = scores.float().to(w.device)
    # growth: pruned, of eps's sign, largest |c| / Var^p first
    grow_order, grow_count = _queue(~keep & (c_sign == sign.unsqueeze(1)) & (c != 0), -(c / scale).abs())
    grow_at = torch.zeros_like(grow_count)
    if nm is None:
        # pruning: kept, not of eps's sign, lowest score first
        prune_order, prune_count = _queue(keep & (c_sign != sign.unsqueeze(1)), scores)
        prune_at = torch.zeros_like(grow_count)
    else:
        offsets = torch.arange(nm[1], device=w.device).unsqueeze(0)
        inf = torch.tensor(float("inf"), device=w.device)
    active = (sign != 0) & (eps.abs() > threshold)
    last = w.shape[1] - 1
    for _ in range(max_cycles):
        if not bool(active.any()):
            break
        ok = active & (grow_at < grow_count)
        g = grow_order[rows, grow_at.clamp_max(last)]
        grow_at += 1
        if nm is None:
            ok &= prune_at < prune_count
            p = prune_order[rows, prune_at.clamp_max(last)]
            prune_at += 1
        else:  # the lowest-scored kept weight of g's group not of eps's sign (so never one grown here)
            group = (g - g % nm[1]).unsqueeze(1) + offsets
            at = (rows.unsqueeze(1), group)
            candidate = keep[at] & (c_sign[at] != sign.unsqueeze(1))
            p = group[rows, torch.where(candidate, scores[at], inf).argmin(dim=1)]
            ok &= candidate.any(dim=1)
        after = eps + c[rows, p] - c[rows, g]
        ok &= torch.sign(after) == sign
        swap = rows[ok]
        keep[swap, g[ok]] = True
        keep[swap, p[ok]] = False
        eps = torch.where(ok, after, eps)
        active = ok & (eps.abs() > threshold)
    return keep
