"""Dynamic sparse training at a constant budget: each update drops some active weights and
grows as many inactive ones, so a layer's density never changes.

- rigl: drop the active weights of lowest |w|, grow the inactive ones of largest |dL/dw|
  (the dense gradient) (Evci et al., "Rigging the Lottery", ICML 2020, Alg. 1);
- set: the same drop, grow at random (Mocanu et al., Nature Communications 2018).

k = floor(fraction * active) per layer (RigL's truncation), fraction from
schedules.drop_fraction. A weight just dropped may be grown again (RigL's rule). Grown weights
start at zero with no optimizer state: the caller zeroes `grown` in the weight and clears it
with masks.clear_optimizer_state. Ties are broken by index (stable sorts).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class Update(NamedTuple):
    keep: torch.Tensor  # bool, the weight's shape: the new mask
    grown: torch.Tensor  # bool, the weight's shape: grown at this update (zero them), regrown drops included


def update(
    weight: torch.Tensor,
    keep: torch.Tensor,
    fraction: float,
    grow: str = "gradient",
    grad: Optional[torch.Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> Update:
    """The mask after one drop-and-grow update of the layer's active weights.

    Raises ValueError for grow="gradient" without grad, or an unknown grow rule."""
    flat_keep = keep.flatten()
    active = int(flat_keep.sum())
    k = min(int(fraction * active), active)
    grown_flat = torch.zeros_like(flat_keep)
    if k <= 0:
        return Update(keep.clone(), grown_flat.view(keep.shape))
    magnitude = weight.detach().abs().flatten().float()
    drop_scores = torch.where(flat_keep, magnitude, torch.full_like(magnitude, float("inf")))
    dropped = torch.argsort(drop_scores, stable=True)[:k]
    after = flat_keep.clone()
    after[dropped] = False
    if grow == "gradient":
        if grad is None:
            raise ValueError("grow=gradient needs the dense gradient")
        grow_scores = grad.detach().abs().flatten().float()
    elif grow == "random":
        grow_scores = torch.rand(flat_keep.shape, generator=generator).to(weight.device)
    else:
        raise ValueError(f"unknown grow rule {grow!r}: gradient or random")
    grow_scores = torch.where(after, torch.full_like(grow_scores, float("-inf")), grow_scores)
    grown = torch.argsort(-grow_scores, stable=True)[:k]
    after[grown] = True
    grown_flat[grown] = True
    return Update(after.view(keep.shape), grown_flat.view(keep.shape))
