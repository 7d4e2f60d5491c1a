"""SparseGPT (Frantar & Alistarh, "SparseGPT: Massive Language Models Can Be Accurately Pruned
in One-Shot", ICML 2023, Algorithm 1): prune a layer's weight column by column and update the
columns not yet processed so the layer's output on the calibration inputs changes least.

With H = X^T X + lambda I (lambda = dampening * mean diag, 0.01 in the paper) and U the upper
Cholesky factor of H^-1, columns are taken in blocks of B (128). At the start of a block the
mask is chosen over the whole block: the weights with the lowest w^2 / U_cc^2 are pruned,
exactly floor(s * rows * B) of them (the paper's "(1 - p)% of the weights with the largest"
saliency; the reference code's `<=` threshold prunes one more). For N:M the choice is made
per row at every M-th column, over that column's group of M. Each column's error
(w - q) / U_cc is then spread over the later columns of the block, and the block's errors
over all later columns at its end (the lazy batch update). Weights on inputs the calibration
never saw (diag H = 0) are zeroed first, as in the reference code, so they are pruned first.

float32 throughout, as the reference code; the Cholesky factorisations in float64, which
costs little at these sizes and keeps the dampened H well conditioned.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from sparsecli.sparsity.structure import pruned_count


class NotPositiveDefinite(ValueError):
    """The dampened H has no Cholesky factor (too little dampening for these inputs)."""


class Pruned(NamedTuple):
    weight: torch.Tensor  # float32 [out, in], zeros where pruned, the rest reconstructed
    keep: torch.Tensor  # bool [out, in]


def inverse_cholesky(gram: torch.Tensor, dampening: float) -> torch.Tensor:
    """The upper Cholesky factor of (gram + dampening * mean(diag) I)^-1, float32 [in, in]; a
    dead input (zero diagonal) gets 1 on the diagonal first."""
    h = gram.double().clone()
    dead = torch.diagonal(h) == 0
    h[dead, dead] = 1.0
    torch.diagonal(h).add_(dampening * torch.diagonal(h).mean())
    try:
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(h))
        return torch.linalg.cholesky(inverse, upper=True).float()
    except torch.linalg.LinAlgError:
        raise NotPositiveDefinite(f"the dampened Hessian is not positive definite (dampening {dampening})") from None


def prune(
    weight: torch.Tensor,
    gram: torch.Tensor,
    sparsity: float,
    nm: Optional[tuple[int, int]] = None,
    block: int = 128,
    dampening: float = 0.01,
) -> Pruned:
    """weight [out, in] (any float dtype), gram X^T X float [in, in] from FeatureStats.
    nm = (n, m): keep n of every m input columns per row (sparsity is then ignored).

    Raises ValueError when m does not divide the input columns or block is not a multiple of m,
    NotPositiveDefinite when the dampened H has no Cholesky factor."""
    w = weight.detach().float().clone()
    cols = w.shape[1]
    if nm is not None:
        n, m = nm
        if cols % m or block % m or not 1 <= n <= m:
            raise ValueError(f"{n}:{m} needs M dividing the {cols} input columns and the block of {block}")
    dead = torch.diagonal(gram) == 0
    w[:, dead] = 0.0
    u = inverse_cholesky(gram, dampening)
    keep = torch.ones_like(w, dtype=torch.bool)
    for start in range(0, cols, block):
        stop = min(start + block, cols)
        w1 = w[:, start:stop].clone()
        u1 = u[start:stop, start:stop]
        q1 = torch.zeros_like(w1)
        err1 = torch.zeros_like(w1)
        prune1 = torch.zeros_like(w1, dtype=torch.bool)
        diag1 = torch.diagonal(u1)
        if nm is None:
            saliency = (w1 * w1 / (diag1 * diag1).unsqueeze(0)).flatten()
            prune1.view(-1)[torch.argsort(saliency, stable=True)[: pruned_count(sparsity, saliency.numel())]] = True
        for i in range(stop - start):
            if nm is not None and i % nm[1] == 0:
                n, m = nm
                group = w1[:, i : i + m] ** 2 / (diag1[i : i + m] ** 2).unsqueeze(0)
                lowest = torch.argsort(group, dim=1, stable=True)[:, : m - n]
                prune1[:, i : i + m].scatter_(1, lowest, True)
            column = w1[:, i]
            q = torch.where(prune1[:, i], torch.zeros_like(column), column)
            q1[:, i] = q
            err = (column - q) / u1[i, i]
            w1[:, i:] -= err.unsqueeze(1) @ u1[i, i:].unsqueeze(0)
            err1[:, i] = err
        w[:, start:stop] = q1
        keep[:, start:stop] = ~prune1
        w[:, stop:] -= err1 @ u[start:stop, stop:]
    keep[:, dead] = False  # zeroed above: the mask says so, whatever the count
    return Pruned(w * keep, keep)
