"""sparsity/flops.py: training FLOPs of one step, dense and at the masks' density (RigL's accounting)."""

import torch
from torch import nn

from sparsecli.sparsity.flops import step_flops


def test_linear_counts_forward_input_and_weight_gradient_at_its_density():
    layer = nn.Linear(4, 3, bias=False)
    x = torch.ones(2, 4, requires_grad=True)
    counted = step_flops(lambda: layer(x).sum(), {layer.weight: 0.5})
    # each product is 2 * 2 * 4 * 3 = 48 FLOPs: forward, input gradient, weight gradient
    assert counted.dense == 144
    assert counted.sparse == 72
    assert counted.weight_gradient == 24
    assert layer.weight.grad is not None


def test_no_input_gradient_and_dense_weights():
    layer = nn.Linear(4, 3, bias=False)
    x = torch.ones(2, 4)
    assert tuple(step_flops(lambda: layer(x).sum(), {})) == (96, 96, 0)
    assert tuple(step_flops(lambda: layer(x).sum(), {layer.weight: 0.25})) == (96, 24, 36)


def test_a_tied_embedding_counts_through_its_transposed_view():
    table = nn.Embedding(10, 4)
    hidden = torch.ones(3, 4, requires_grad=True)
    # scores = hidden @ table.weight.T: [3, 10], 2 * 3 * 4 * 10 = 240 FLOPs per product
    counted = step_flops(lambda: (hidden @ table.weight.T).sum(), {table.weight: 0.2})
    assert counted.dense == 720
    assert counted.sparse == 144
    assert counted.weight_gradient == 192


def test_cpu_flash_attention_is_counted_as_torch_counts_attention():
    q = torch.randn(4, 1, 10, 16, requires_grad=True)  # [B, H, L, E]
    product = 2 * 4 * 1 * 10 * 10 * 16  # one [L, E] x [E, L] product per head: 12,800
    counted = step_flops(lambda: nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).sum(), {})
    # forward: scores and the weighted sum; backward: torch's five products (scores recomputed)
    assert counted.dense == 2 * product + 5 * product
