"""Which layers of a model are pruned, and their weights in one layout.

Targets are nn.Linear and Hugging Face's GPT-2-style `Conv1D` modules whose qualified name
matches one of `include` (regexes, re.search) and none of `ignore`. Embeddings are never
targets, nor is the model's output embedding layer or any Linear that shares its weight with
an embedding (tied vocabulary projections); the default ignore list also names `lm_head` and
BERT's MLM `decoder`, for untied ones.

A `Conv1D` weight is stored [in, out]; `matrix(module)` returns every target's weight as
[out, in] (a view), so N:M groups and per-row comparisons always run along the input
(reduction) dimension (../shared/cases/prune/nm_axis).
"""

from __future__ import annotations

import re
from typing import Sequence

import torch
from torch import nn

from sparsecli.sparsity.config import DEFAULT_IGNORE


def is_conv1d(module: nn.Module) -> bool:
    """transformers.pytorch_utils.Conv1D, recognised by name so transformers is not imported."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def targets(model: nn.Module, include: Sequence[str] = (".",), ignore: Sequence[str] = DEFAULT_IGNORE) -> dict:
    """{qualified name: module} of the prunable layers, in model order.

    Raises ValueError when a pattern is not a valid regex."""
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
    for name, module in model.named_modules():
        if not (isinstance(module, nn.Linear) or is_conv1d(module)):
            continue
        if module is output or module.weight.data_ptr() in shared:
            continue
        if any(p.search(name) for p in keep) and not any(p.search(name) for p in drop):
            found[name] = module
    return found


def matrix(module: nn.Module) -> torch.Tensor:
    """The module's weight as [out, in]: a view of the stored tensor."""
    return module.weight.T if is_conv1d(module) else module.weight


def stored(module: nn.Module, keep: torch.Tensor) -> torch.Tensor:
    """A mask in [out, in] layout, in the layout the module stores its weight."""
    return keep.T if is_conv1d(module) else keep
