"""Masks applied to a model in place, kept applied through training, reported and saved.

A mask is bool [out, in] (True = keep) per target layer, in Linear layout (layers.matrix).
Applying it writes zeros into the weight itself: no hooks, no parametrization, no
`weight_orig` (torch.nn.utils.prune doubles a checkpoint that way, breaks deepcopy and strict
loading: ../shared/cases/prune/torch_prune_checkpoint). During training the mask must be
re-applied after every optimizer step and the optimizer's state cleared at pruned positions,
or momentum and weight decay revive pruned weights (../shared/cases/prune/momentum_regrowth).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np
import torch
from torch import nn

from sparsecli.sparsity import layers
from sparsecli.sparsity.structure import is_n_m


@torch.no_grad()
def apply(modules: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor]) -> None:
    """Zero every pruned weight of `modules` in place."""
    for name, keep in masks.items():
        module = modules[name]
        module.weight.mul_(layers.stored(module, keep).to(module.weight.device, module.weight.dtype))


@torch.no_grad()
def clear_optimizer_state(
    optimizer: torch.optim.Optimizer, modules: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor]
) -> None:
    """Zero every per-weight state tensor of the optimizer (SGD's momentum, Adam's moments,
    RMSprop's averages, ...) at pruned positions: a newly grown weight (RigL) starts from
    nothing, and momentum built before pruning cannot move a pruned weight. With dense
    gradients, `apply` after every step is still what keeps pruned weights at zero."""
    for name, keep in masks.items():
        module = modules[name]
        pruned = ~layers.stored(module, keep).to(module.weight.device)
        for value in optimizer.state.get(module.weight, {}).values():
            if torch.is_tensor(value) and value.shape == pruned.shape:
                value[pruned] = 0


class LayerReport(NamedTuple):
    name: str
    shape: tuple  # [out, in]
    params: int
    kept: int
    sparsity: float  # pruned / params, of the weight (the bias is never pruned)
    has_bias: bool
    nm_valid: bool | None  # every group of the chosen N:M holds at most N weights; None without N:M


def report(masks: Mapping[str, torch.Tensor], modules: Mapping[str, nn.Module], nm=None) -> list[LayerReport]:
    """Per-layer figures from the masks (once applied, the weights are zero exactly where a
    mask prunes; a kept weight that happens to be zero still counts as kept)."""
    out = []
    for name, keep in masks.items():
        module = modules[name]
        kept = int(keep.sum())
        out.append(
            LayerReport(
                name,
                tuple(keep.shape),
                keep.numel(),
                kept,
                1.0 - kept / keep.numel(),
                getattr(module, "bias", None) is not None,
                is_n_m(keep, *nm) if nm is not None else None,
            )
        )
    return out


def pack(masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Masks as bits (numpy.packbits, row-major, big bit order): uint8 [ceil(numel / 8)] each,
    for a safetensors sidecar an eighth of a bool tensor's size. unpack(bits, shape) inverts."""
    return {name: torch.from_numpy(np.packbits(keep.cpu().numpy().reshape(-1))) for name, keep in masks.items()}


def unpack(bits: torch.Tensor, shape: tuple) -> torch.Tensor:
    count = int(np.prod(shape))
    return torch.from_numpy(np.unpackbits(bits.numpy(), count=count).astype(bool).reshape(shape))


def save(path, masks: Mapping[str, torch.Tensor]) -> None:
    """The masks as one safetensors file of bitmasks (pack), in [out, in] layout, with their
    shapes as the one metadata key (safetensors writes several keys in no fixed order)."""
    import json

    from safetensors.torch import save_file

    shapes = {name: list(keep.shape) for name, keep in masks.items()}
    save_file(pack(masks), str(path), metadata={"shapes": json.dumps(shapes, sort_keys=True)})


def load(path) -> dict[str, torch.Tensor]:
    """What save wrote: {name: bool keep [out, in]}."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        shapes = json.loads(handle.metadata()["shapes"])
        return {name: unpack(handle.get_tensor(name), tuple(shape)) for name, shape in shapes.items()}
