"""Which layers of a model are pruned, and their weights in one layout.

Targets are weight matrices whose qualified name matches one of `include` (regexes,
re.search) and none of `ignore`, of the chosen layer types:
- `linear` (the default): nn.Linear and Hugging Face's GPT-2-style `Conv1D`, but never the
  model's output embedding layer or a Linear that shares its weight with an embedding (tied
  vocabulary projections); the default ignore list also names `lm_head` and BERT's MLM
  `decoder`, for untied ones;
- `embedding`: nn.Embedding tables, [rows, dim] (recommenders' item tables: most of their
  parameters);
- `attention`: nn.MultiheadAttention's packed q/k/v input projection, named
  `<module>.in_proj_weight`, [3 dim, dim] (its output projection is a Linear already).
A target is the module, or for a packed projection a `Packed` holding the parameter: either
way `.weight` is the tensor a mask applies to.

A `Conv1D` weight is stored [in, out]; `matrix(module)` returns every target's weight as
[out, in] (a view), so N:M groups and per-row comparisons always run along the input
(reduction) dimension (../shared/cases/prune/nm_axis).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Sequence

import torch
from torch import nn

from sparsecli.sparsity.config import DEFAULT_IGNORE


def is_conv1d(module: nn.Module) -> bool:
    """transformers.pytorch_utils.Conv1D, recognised by name so transformers is not imported."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


LAYER_TYPES = ("linear", "embedding", "attention")
PACKED = "in_proj_weight"


class Packed(NamedTuple):
    """A weight matrix a module holds under another name than `.weight`."""

    weight: nn.Parameter


def find(model: nn.Module, name: str):
    """The target called `name` (a module, or Packed for `<mha>.in_proj_weight`).
    Raises AttributeError when the model has no such layer."""
    if name.endswith("." + PACKED) or name == PACKED:
        parent = model.get_submodule(name[: -len(PACKED) - 1]) if name != PACKED else model
        return Packed(getattr(parent, PACKED))
    return model.get_submodule(name)


def targets(
    model: nn.Module,
    include: Sequence[str] = (".",),
    ignore: Sequence[str] = DEFAULT_IGNORE,
    layer_types: Sequence[str] = ("linear",),
) -> dict:
    """{qualified name: module (or Packed)} of the prunable layers, in model order.

    Raises ValueError when a pattern is not a valid regex or a layer type is unknown."""
    unknown = sorted(set(layer_types) - set(LAYER_TYPES))
    if unknown:
        raise ValueError(f"unknown layer types {unknown}: choose from {list(LAYER_TYPES)}")
    try:
        keep = [re.compile(p) for p in include]
        drop = [re.compile(p) for p in ignore]
    except re.error as error:
        raise ValueError(f"not a regular expression: {error.pattern!r} ({error})") from None
    # a Linear whose weight is an embedding matrix (tied output projections: BERT's decoder,
    # DistilBERT's vocab_projector, lm_head) is never a target: pruning it prunes the embeddings
    shared = {m.weight.data_ptr() for m in model.modules() if isinstance(m, nn.Embedding)}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    found = {}

    def take(name: str) -> bool:
        return any(p.search(name) for p in keep) and not any(p.search(name) for p in drop)

    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) or is_conv1d(module):
            linear = module is not output and module.weight.data_ptr() not in shared
            if "linear" in layer_types and linear and take(name):
                found[name] = module
        elif isinstance(module, nn.Embedding):
            if "embedding" in layer_types and take(name):
                found[name] = module
        elif isinstance(module, nn.MultiheadAttention) and getattr(module, PACKED, None) is not None:
            packed = f"{name}.{PACKED}" if name else PACKED
            if "attention" in layer_types and take(packed):
                found[packed] = Packed(getattr(module, PACKED))
    return found


def matrix(module: nn.Module) -> torch.Tensor:
    """The module's weight as [out, in]: a view of the stored tensor."""
    return module.weight.T if is_conv1d(module) else module.weight


def stored(module: nn.Module, keep: torch.Tensor) -> torch.Tensor:
    """A mask in [out, in] layout, in the layout the module stores its weight."""
    return keep.T if is_conv1d(module) else keep
