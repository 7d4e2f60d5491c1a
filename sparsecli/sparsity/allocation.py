"""How a total sparsity is shared among layers. Pure functions over layer shapes or scores.

- uniform: every layer at the target (layer-wise; the default, which cannot collapse a layer).
- erk / er: densities proportional to (sum of dims / product of dims)^power over the layers
  that are not dense (Erdos-Renyi-Kernel and Erdos-Renyi; Evci et al., RigL, ICML 2020, and
  Mocanu et al. 2018), scaled so the parameters kept equal the target: layers whose density
  would exceed 1 are made dense and the rest re-solved, as RigL's
  sparse_utils.get_sparsities_erdos_renyi does. ER uses the two matrix dims only; ERK all.
- global_masks: one ranking over every layer's scores, with each layer keeping at least
  `min_density` of its weights. A single global threshold empties small-scale layers
  (../shared/cases/prune/global_magnitude_collapse: layer_a of 16 weights goes to 100% at a
  global 50%), which is why the floor exists and why uniform is the default.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch

from sparsecli.sparsity.structure import pruned_count


def uniform(shapes: Mapping[str, tuple], sparsity: float) -> dict[str, float]:
    """Every layer at `sparsity`."""
    return {name: sparsity for name in shapes}


def erdos_renyi(
    shapes: Mapping[str, tuple], density: float, kernel: bool = True, power: float = 1.0
) -> dict[str, float]:
    """Per-layer densities in (0, 1] whose kept parameters sum to density * total (up to
    rounding). kernel=True: ERK, raw score sum(shape)/prod(shape); False: ER, the first two
    dims only ((n_out + n_in) / (n_out n_in)). power scales the raw scores (RigL's
    erk_power_scale). float64.

    Raises ValueError unless 0 < density <= 1."""
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    raw = {
        name: ((sum(shape) if kernel else sum(shape[:2])) / (math.prod(shape) if kernel else math.prod(shape[:2])))
        ** power
        for name, shape in shapes.items()
    }
    dense: set[str] = set()
    while True:
        budget = density * sum(sizes.values()) - sum(sizes[name] for name in dense)
        weighted = sum(raw[name] * sizes[name] for name in shapes if name not in dense)
        epsilon = budget / weighted if weighted > 0 else 0.0
        over = [name for name in shapes if name not in dense and epsilon * raw[name] > 1.0]
        if not over:
            break
        dense.add(max(over, key=lambda name: (raw[name], name)))  # the largest first, as RigL
    return {name: 1.0 if name in dense else epsilon * raw[name] for name in shapes}


def global_masks(
    scores: Mapping[str, torch.Tensor], sparsity: float, min_density: float = 0.0
) -> dict[str, torch.Tensor]:
    """Keep masks (True = keep) that prune floor(sparsity * total) weights, the lowest scores over
    all layers, each layer keeping at least ceil(min_density * numel). Ties: by layer order,
    then index (stable). Raises ValueError when the floor makes the target unreachable."""
    names = list(scores)
    flat = [scores[name].detach().flatten().double().cpu().numpy() for name in names]
    sizes = np.array([len(f) for f in flat])
    caps = np.array([pruned_count(1.0 - min_density, int(n)) for n in sizes])
    target = pruned_count(sparsity, int(sizes.sum()))
    if target > caps.sum():
        raise ValueError(
            f"{sparsity:.0%} overall cannot be reached with every layer keeping {min_density:.0%}; "
            f"at most {caps.sum() / sizes.sum():.2%}"
        )
    values = np.concatenate(flat)
    layer = np.repeat(np.arange(len(names)), sizes)
    order = np.argsort(values, kind="stable")
    # each weight's rank within its own layer's ascending order
    rank_in_layer = np.empty(len(values), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for i, f in enumerate(flat):
        rank_in_layer[starts[i] + np.argsort(f, kind="stable")] = np.arange(len(f))
    allowed = order[rank_in_layer[order] < caps[layer[order]]]
    pruned = allowed[:target]
    keep = np.ones(len(values), dtype=bool)
    keep[pruned] = False
    return {
        name: torch.from_numpy(keep[starts[i] : starts[i] + sizes[i]].copy()).view(scores[name].shape)
        for i, name in enumerate(names)
    }
