"""Saliency scores, one small pure function per criterion: higher = more important = kept.

Every function takes a weight float [out, in] in Linear layout and returns float32 scores of
the same shape; structure.py turns scores into masks.

- magnitude: |W| (Han et al. 2015).
- random: uniform scores from a seeded generator (random pruning; with ERK allocation, "The
  Unreasonable Effectiveness of Random Pruning", Liu et al., ICLR 2022).
- wanda: |W_ij| * ||X_j||_2, the norm of input feature j over all N*L calibration tokens
  (Sun et al., "A Simple and Effective Pruning Approach for Large Language Models", 2023,
  Sec. 3), compared within each output row (structure.per_row or n_m).
"""

from __future__ import annotations

from typing import Optional

import torch


def magnitude(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().abs().float()


def random(weight: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(weight.shape, generator=generator, dtype=torch.float32).to(weight.device)


def wanda(weight: torch.Tensor, input_sq_norms: torch.Tensor) -> torch.Tensor:
    """input_sq_norms float [in]: sum over calibration tokens of x_j^2 (FeatureStats.sq_norms).
    Raises ValueError when its length is not the weight's number of input columns."""
    if input_sq_norms.shape != (weight.shape[1],):
        raise ValueError(
            f"input norms of shape {tuple(input_sq_norms.shape)} for a weight with {weight.shape[1]} inputs"
        )
    return weight.detach().abs().float() * input_sq_norms.float().sqrt().to(weight.device).unsqueeze(0)


class FeatureStats:
    """Running statistics of a layer's inputs over calibration tokens, in float32 whatever the
    activations' dtype: sums [in] and sq_norms [in] (sums of x_j and x_j^2: Wanda's norms,
    DSnoT's mean and variance) and, when `hessian`, the Gram matrix X^T X [in, in] (SparseGPT's
    H up to the factor 2/n, which cancels), and `tokens`."""

    def __init__(self, features: int, hessian: bool = False, device: Optional[torch.device] = None):
        self.sums = torch.zeros(features, dtype=torch.float32, device=device)
        self.sq_norms = torch.zeros(features, dtype=torch.float32, device=device)
        self.gram = torch.zeros(features, features, dtype=torch.float32, device=device) if hessian else None
        self.tokens = 0

    def add(self, inputs: torch.Tensor) -> None:
        """inputs [..., in]: every leading position is one token."""
        x = inputs.detach().reshape(-1, inputs.shape[-1]).float()
        self.sums += x.sum(dim=0)
        self.sq_norms += (x * x).sum(dim=0)
        if self.gram is not None:
            self.gram += x.T @ x
        self.tokens += x.shape[0]

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """E[x_j] and Var[x_j] over the tokens seen, float32 [in] each."""
        mean = self.sums / max(self.tokens, 1)
        return mean, (self.sq_norms / max(self.tokens, 1) - mean * mean).clamp_min(0.0)
