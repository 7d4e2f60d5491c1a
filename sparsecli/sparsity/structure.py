"""Keep masks from saliency scores, one function per structure. Pure torch; no hooks.

Every function takes scores float [out, in] in Linear layout (a GPT-2 `Conv1D` weight, stored
[in, out], is transposed by the caller: layers.py) and returns a bool keep mask of the same
shape, True = keep. Lower scores are pruned first; equal scores are pruned in index order
(a stable sort), so a mask is a function of the scores alone.

- per_row: each output row prunes exactly floor(s * cols): Wanda's comparison group
  (Sun et al. 2023, Sec. 3; locuslab/wanda prune.py sorts along dim=-1).
- per_layer: floor(s * numel) over the whole tensor (plain magnitude pruning).
- n_m: N:M along the input (reduction) dimension: in every row, each run of M consecutive
  input columns keeps its N best, the pattern sparse tensor cores run (2:4, 4:8; 1:4).
- blocks: whole [r, c] tiles by the sum of their scores.
- rows: whole output rows (neurons; structured).
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch


def pruned_count(sparsity: float, total: int) -> int:
    """floor(sparsity * total) with sparsity read as the decimal it was written as: in binary,
    0.29 * 100 is 28.999999999999996, and no fixed epsilon holds for every total."""
    return min(total, math.floor(Fraction(repr(float(sparsity))) * total))


def _prune_lowest(scores: torch.Tensor, count: int) -> torch.Tensor:
    """keep mask over a 1-D tensor with its `count` lowest entries (index order on ties) pruned."""
    keep = torch.ones_like(scores, dtype=torch.bool)
    if count > 0:
        keep[torch.argsort(scores, stable=True)[:count]] = False
    return keep


def per_row(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Each row prunes its floor(sparsity * cols) lowest scores."""
    count = pruned_count(sparsity, scores.shape[1])
    keep = torch.ones_like(scores, dtype=torch.bool)
    if count > 0:
        order = torch.argsort(scores, dim=1, stable=True)[:, :count]
        keep.scatter_(1, order, False)
    return keep


def per_layer(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """The layer prunes its floor(sparsity * numel) lowest scores."""
    return _prune_lowest(scores.flatten(), pruned_count(sparsity, scores.numel())).view(scores.shape)


def n_m(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep the n best of every m consecutive input columns of each row.

    Raises ValueError unless 1 <= n <= m and m divides the number of input columns."""
    rows, cols = scores.shape
    if not 1 <= n <= m or cols % m:
        raise ValueError(f"{n}:{m} needs 1 <= N <= M and M dividing the {cols} input columns")
    groups = scores.reshape(rows, cols // m, m)
    order = torch.argsort(groups, dim=2, stable=True)[:, :, : m - n]
    keep = torch.ones_like(groups, dtype=torch.bool)
    keep.scatter_(2, order, False)
    return keep.reshape(rows, cols)


def blocks(scores: torch.Tensor, sparsity: float, shape: tuple[int, int]) -> torch.Tensor:
    """Prune floor(sparsity * #blocks) whole [r, c] tiles, the lowest by summed score.

    Raises ValueError unless the tile divides the matrix."""
    rows, cols = scores.shape
    r, c = shape
    if r < 1 or c < 1 or rows % r or cols % c:
        raise ValueError(f"a {r}x{c} block must divide the {rows}x{cols} weight")
    tiles = scores.reshape(rows // r, r, cols // c, c).sum(dim=(1, 3))
    keep = per_layer(tiles, sparsity)
    return keep.repeat_interleave(r, 0).repeat_interleave(c, 1)


def rows(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Prune floor(sparsity * rows) whole output rows, the lowest by summed score (the caller
    zeroes their bias too, or the neuron still outputs a constant)."""
    keep = _prune_lowest(scores.sum(dim=1), pruned_count(sparsity, scores.shape[0]))
    return keep.unsqueeze(1).expand_as(scores).clone()


def is_n_m(keep: torch.Tensor, n: int, m: int) -> bool:
    """Every run of m consecutive input columns of every row has at most n kept weights."""
    rows_, cols = keep.shape
    return cols % m == 0 and bool((keep.reshape(rows_, cols // m, m).sum(dim=2) <= n).all())
