"""Training FLOPs of one step, dense and with the masks' sparsity.

Sparse-training papers report the FLOPs a sparse kernel would spend, not what a dense
kernel on zeros spends (Evci et al., RigL, ICML 2020, appendix H; DSL, WSDM 2024, follows
it): every matrix product with a weight of density d costs d times its dense count, in the
forward pass, in the input gradient and in the weight gradient. The dense counts come from
torch's own formulas (torch.utils.flop_counter, 2 FLOPs per multiply-add); which product
involves which weight is found by storage, so views (a transposed tied embedding, the
slices of a packed q/k/v projection) count as their weight.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_backward_flop_count, sdpa_flop_count

_aten = torch.ops.aten
# torch's table has no formula for the CPU flash-attention kernels that nn.MultiheadAttention
# runs in training (torch 2.13); the same counts as its other attention kernels. Called
# as torch's formulas are, with out_val among the keywords.
_EXTRA = {
    _aten._scaled_dot_product_flash_attention_for_cpu: lambda q, k, v, *a, **kw: sdpa_flop_count(
        q.shape, k.shape, v.shape
    ),
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: lambda g, q, k, v, *a, **kw: sdpa_backward_flop_count(
        g.shape, q.shape, k.shape, v.shape
    ),
}


class StepFlops(NamedTuple):
    """FLOPs of one forward + backward pass (no optimizer step).

    dense: every product at full size; sparse: products with a masked weight scaled by its
    density (forward, input gradient and weight gradient); weight_gradient: what the weight
    gradients of masked weights cost on top of `sparse` when they are computed dense, as
    RigL/DSL do at every drop-and-grow update."""

    dense: int
    sparse: int
    weight_gradient: int


class _Counter(TorchDispatchMode):
    def __init__(self, densities: Mapping[int, float]):
        super().__init__()
        self.densities = densities  # storage address -> density
        self.dense = 0.0
        self.saved = 0.0  # what products with a masked weight save: dense - sparse

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket, _EXTRA.get(func._overloadpacket))
        if formula is not None:
            count = float(formula(*args, **kwargs, out_val=out))
            density = min(
                (self.densities.get(_address(a), 1.0) for a in args if isinstance(a, torch.Tensor)), default=1.0
            )
            self.dense += count
            self.saved += count * (1.0 - density)
        return out


def _address(tensor: torch.Tensor) -> int:
    return tensor.untyped_storage().data_ptr()


def step_flops(forward: Callable[[], torch.Tensor], densities: Mapping[torch.Tensor, float]) -> StepFlops:
    """Count one step: forward() builds the loss, then its backward pass runs.

    densities: weight tensor (a parameter) -> its density in [0, 1]; weights not named are
    dense. A weight's gradient is one product the size of its forward product, with no weight
    operand to recognise it by, so its saving is taken as the forward pass's (exact for
    Linear, Embedding-as-output and packed projections, whose weight gradient is
    grad_out^T @ input). Leaves .grad set; the caller zeroes it."""
    by_address = {_address(w): float(d) for w, d in densities.items()}
    with _Counter(by_address) as counter:
        loss = forward()
    forward_saved = counter.saved
    with _Counter(by_address) as backward:
        loss.backward()
    dense = counter.dense + backward.dense
    sparse = dense - counter.saved - backward.saved - forward_saved  # and the weight gradients, scaled
    return StepFlops(round(dense), round(sparse), round(forward_saved))
