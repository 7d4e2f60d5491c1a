"""DSnoT (sparsity/dsnot.py) on hand-worked rows, and its invariants on random layers."""

from __future__ import annotations

import torch

from sparsecli.sparsity import dsnot, structure

T, F = True, False


def _row(values):
    return torch.tensor([values], dtype=torch.float32)


def test_swaps_cancel_the_expected_error_until_a_swap_would_flip_its_sign():
    # c = W * mu = W; pruned 0..3: eps = 1 + 0.4 - 0.5 + 0.5 = 1.4
    w = _row([1.0, 0.4, -0.5, 0.5, -0.2, -0.3, 3.0, 2.0])
    keep = torch.tensor([[F, F, F, F, T, T, T, T]])
    ones = torch.ones(8)
    # cycle 1: grow 0 (largest c of eps's sign), prune 4 (kept, negative, lowest score): eps 0.2
    # cycle 2: grow 3, prune 5 would leave -0.6: the sign flips, the row stops
    out = dsnot.refine(w, keep, ones, ones, w.abs(), threshold=0.1)
    assert out.tolist() == [[T, F, F, F, F, T, T, T]]
    # Var[x_0] = 4 demotes column 0 (|c|/Var: 0.25) behind 3 (0.5) and 1 (0.4):
    # grow 3 / prune 4: eps 0.7; grow 1 / prune 5 leaves exactly 0, no longer positive: stop
    var = torch.tensor([4.0, 1, 1, 1, 1, 1, 1, 1])
    out = dsnot.refine(w, keep, ones, var, w.abs(), threshold=0.1)
    assert out.tolist() == [[F, F, F, T, F, T, T, T]]
    # a threshold above |eps| leaves the mask alone, as do zero cycles
    assert dsnot.refine(w, keep, ones, ones, w.abs(), threshold=1.5).equal(keep)
    assert dsnot.refine(w, keep, ones, ones, w.abs(), max_cycles=0).equal(keep)


def test_n_m_swaps_stay_inside_the_grown_weights_group():
    w = _row([-0.5, 0.2, 3.0, 2.0, 4.0, 5.0, -0.2, -0.1])
    mean = torch.tensor([1.0, 1, 0.01, 0.01, 1, 1, 1, 1])
    keep = structure.n_m(w.abs(), 2, 4)
    assert keep.tolist() == [[F, F, T, T, T, T, F, F]]
    # eps = -0.5 + 0.2 - 0.2 - 0.1 = -0.6; grow 0 and prune 3 (its group's lowest score): -0.08;
    # grow 6 would prune 4 (c = 4): the sign flips, stop
    out = dsnot.refine(w, keep, mean, torch.ones(8), w.abs(), nm=(2, 4), threshold=0.01)
    assert out.tolist() == [[T, F, T, F, T, T, F, F]]


def test_counts_patterns_and_the_error_bound_hold_on_random_layers():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 96, generator=g)
    x = torch.randn(500, 96, generator=g) * torch.rand(96, generator=g) * 3 + torch.randn(96, generator=g)
    mean, var, norms = x.mean(0), x.var(0, unbiased=False), (x * x).sum(0)
    scores = w.abs() * norms.sqrt()
    for keep, nm in ((structure.per_row(scores, 0.5), None), (structure.n_m(scores, 2, 4), (2, 4))):
        out = dsnot.refine(w, keep, mean, var, scores, nm=nm, threshold=0.0)
        assert out.sum(1).equal(keep.sum(1))
        assert nm is None or structure.is_n_m(out, *nm)
        before = ((w * mean) * ~keep).sum(1)
        after = ((w * mean) * ~out).sum(1)
        assert (after.abs() <= before.abs() + 1e-5).all() and (torch.sign(after) * torch.sign(before) >= 0).all()
        assert not out.equal(keep)  # it did swap
