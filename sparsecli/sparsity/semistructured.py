"""2:4 weights on NVIDIA's sparse tensor cores, at load time: every nn.Linear whose weight is
2:4 along its input dimension gets its weight replaced by torch's semi-structured tensor
(torch.sparse.to_sparse_semi_structured, cuSPARSELt or CUTLASS kernels; CUDA, compute
capability 8.0 or later, fp16 or bf16). Nothing is changed on disk: the checkpoint stays
dense with zeros in place, and this is a load option of `sparse encode`
(encoder.sparse_format=semi_structured).

Layers that are not 2:4 (an ignored layer, a dense head) and shapes the kernels refuse stay
dense. GPT-2's Conv1D layers stay dense (their weight is stored [in, out]).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from sparsecli.sparsity import structure


def is_two_four(weight: torch.Tensor) -> bool:
    """True when every group of 4 consecutive inputs of every row holds at most 2 nonzeros."""
    return weight.dim() == 2 and weight.shape[1] % 4 == 0 and structure.is_n_m(weight != 0, 2, 4)


def fits(module: nn.Module) -> bool:
    """A Linear the semi-structured kernels take: 2:4 weights [out, in] with out a multiple of
    32 and in of 64 (torch's fp16/bf16 shape constraints for CUTLASS; cuSPARSELt's 16 x 16
    are looser, so this fits both)."""
    if type(module) is not nn.Linear:
        return False
    rows, cols = module.weight.shape
    return rows % 32 == 0 and cols % 64 == 0 and is_two_four(module.weight.detach())


def swap_in(model: nn.Module, convert: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> list[str]:
    """Replace the weight of every 2:4 Linear of `model` (on CUDA, fp16 or bf16) by
    convert(weight) (default: torch.sparse.to_sparse_semi_structured), in place; returns the
    names replaced. Raises ValueError when the model is not on CUDA in fp16 or bf16, and
    RuntimeError as torch does (no sparse kernels for this GPU or build)."""
    if convert is None:
        from torch.sparse import to_sparse_semi_structured as convert

        parameter = next(model.parameters())
        if parameter.device.type != "cuda" or parameter.dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f"2:4 kernels run on CUDA in fp16 or bf16, not {parameter.device.type} {parameter.dtype}")
    names = []
    for name, module in model.named_modules():
        if fits(module):
            module.weight = nn.Parameter(convert(module.weight.detach().contiguous()), requires_grad=False)
            names.append(name)
    return names
