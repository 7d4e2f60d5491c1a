"""The `sparsity` package against independent reference implementations of each method's
published formula (tests/reference_pruning.py: numpy float64, plain loops, written apart
from the package), on fixed random weights and calibration activations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference_pruning as ref
from sparsecli.sparsity import allocation, criteria, dynamic, schedules, sparsegpt, structure


def weights_and_inputs(rows=24, cols=64, tokens=300, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    x = (rng.standard_normal((tokens, cols)) * rng.uniform(0.1, 3.0, cols)).astype(np.float32)  # outlier features
    return w, x


def wanda_scores(w, x):
    stats = criteria.FeatureStats(w.shape[1])
    stats.add(torch.from_numpy(x).view(3, -1, w.shape[1]))  # [batch, seq, in], as a layer sees it
    return criteria.wanda(torch.from_numpy(w), stats.sq_norms)


@pytest.mark.parametrize("sparsity", [0.5, 0.29, 0.7])
def test_wanda_masks_agree_with_the_papers_formula(sparsity):
    w, x = weights_and_inputs()
    keep = structure.per_row(wanda_scores(w, x), sparsity).numpy()
    expected = ref.wanda_keep(w, x, sparsity)
    assert (keep == expected).mean() >= 0.999
    assert (keep.shape[1] - keep.sum(axis=1) == int(sparsity * 64 + 1e-9)).all()  # floor(s * cols) per row


@pytest.mark.parametrize("n,m", [(2, 4), (4, 8), (1, 4)])
def test_wanda_n_m_masks_agree_with_the_papers_formula(n, m):
    w, x = weights_and_inputs()
    keep = structure.n_m(wanda_scores(w, x), n, m)
    assert (keep.numpy() == ref.wanda_nm_keep(w, x, n, m)).mean() >= 0.999
    assert structure.is_n_m(keep, n, m) and int(keep.sum()) == 24 * 64 * n // m


@pytest.mark.parametrize("sparsity,nm", [(0.5, None), (0.7, None), (None, (2, 4))])
def test_sparsegpt_matches_the_published_algorithm(sparsity, nm):
    w, x = weights_and_inputs(rows=16, cols=256, tokens=600)
    gram = torch.from_numpy(x.astype(np.float64).T @ x.astype(np.float64)).float()
    ours = sparsegpt.prune(torch.from_numpy(w), gram, sparsity or 0.0, nm, block=128, dampening=0.01)
    weights, keep = ref.sparsegpt(w, x, sparsity=sparsity, nm=nm, blocksize=128, percdamp=0.01)
    assert (ours.keep.numpy() == keep).all()
    assert np.abs(ours.weight.numpy() - weights).max() <= 1e-5
    assert (ours.weight.numpy()[~keep] == 0).all()


def test_erk_densities_match_the_published_formula():
    shapes = {"conv1": (16, 3, 3, 3), "conv2": (32, 16, 3, 3), "fc1": (256, 512), "fc2": (10, 256), "head": (4, 10)}
    for density in (0.05, 0.1, 0.3, 0.5, 0.7, 0.9):
        for kernel in (True, False):
            ours = allocation.erdos_renyi(shapes, density, kernel=kernel)
            expected = ref.erk_densities(shapes, density, kernel=kernel)
            assert ours == pytest.approx(expected, abs=1e-6), (density, kernel)
            total = sum(np.prod(s) for s in shapes.values())
            assert sum(ours[k] * np.prod(s) for k, s in shapes.items()) == pytest.approx(density * total)


def test_gradual_schedule_equals_the_cubic_formula_at_every_step():
    for step in range(0, 1300):
        ours = schedules.gradual(step, 0.1, 0.8, 100, 1100, 100)
        assert ours == pytest.approx(ref.cubic_sparsity(step, 0.1, 0.8, 100, 100, 10), abs=1e-9), step


def test_rigl_drop_fraction_and_constant_budget():
    for step in range(0, 1200, 7):
        assert schedules.drop_fraction(step, 0.3, 1000) == pytest.approx(
            ref.rigl_drop_fraction(step, 0.3, 1000), abs=1e-12
        )
    rng = np.random.default_rng(1)
    weight = torch.from_numpy(rng.standard_normal((32, 48)).astype(np.float32))
    keep = structure.per_layer(weight.abs(), 0.9)
    generator = torch.Generator().manual_seed(0)
    for step in range(100, 1000, 100):
        fraction = schedules.drop_fraction(step, 0.3, 1000)
        grad = torch.from_numpy(rng.standard_normal((32, 48)).astype(np.float32))
        for grow in ("gradient", "random"):
            after, grown = dynamic.update(weight * keep, keep, fraction, grow, grad, generator)
            # the achieved sparsity equals the target within 1/numel, after every update
            assert abs((1 - after.float().mean().item()) - 0.9) <= 1 / keep.numel()
            k = int(fraction * int(keep.sum()))
            assert int(grown.sum()) == k and bool(after[grown].all())
            # dropped: the k active weights of lowest |w|; grown (RigL): the largest gradients left
            magnitude = torch.where(keep, weight.abs(), torch.full_like(weight, float("inf"))).flatten()
            dropped = torch.zeros(keep.numel(), dtype=torch.bool)
            dropped[torch.argsort(magnitude, stable=True)[:k]] = True
            if grow == "gradient":
                candidates = grad.abs().flatten().masked_fill((keep.flatten() & ~dropped), float("-inf"))
                assert torch.equal(grown.flatten().nonzero().flatten().sort().values,
                                   torch.argsort(-candidates, stable=True)[:k].sort().values)  # fmt: skip
        keep = after
