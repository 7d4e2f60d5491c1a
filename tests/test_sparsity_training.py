"""Masks through training (sparsity/training.py) on a tiny MLP with exact expectations:
schedules reach their targets at the update steps, iterative pruning rewinds every weight,
drop-and-grow keeps its exact counts, and SR-STE's forward, gradient and final mask."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparsecli.sparsity import engine, layers, schedules, structure, training
from sparsecli.sparsity.config import OneShot


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def train(model, control, steps: int, lr: float = 0.05, seed: int = 0) -> torch.optim.Optimizer:
    """`steps` AdamW steps on a fixed regression, with the controller's calls where they go."""
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.randn(32, 8, generator=generator), torch.randn(32, 4, generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    control.bind(optimizer)
    for step in range(steps):
        control.before_forward(step)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        control.after_backward(step)
        optimizer.step()
        control.after_step(step)
    control.finish()
    return optimizer


def magnitude_pruner(model):
    config = OneShot()
    return lambda level: engine.prune_model(model, config, sparsity=level).masks


def kept(model, modules) -> dict:
    return {name: int((layers.matrix(m) != 0).sum()) for name, m in modules.items()}


def test_fixed_masks_stay_zero_through_adamw_with_weight_decay():
    model = mlp()
    modules = layers.targets(model)
    masks = magnitude_pruner(model)(0.75)
    train(model, training.Fixed(modules, masks), 20)
    for name, module in modules.items():
        assert (layers.matrix(module)[~masks[name]] == 0).all()
    assert kept(model, modules) == {"0": 32, "2": 16}


def test_gradual_reaches_each_scheduled_sparsity_at_its_update_step():
    model = mlp()
    modules = layers.targets(model)
    steps = schedules.update_steps(0, 12, 4)
    updates = {t: schedules.gradual(t, 0.0, 0.8, 0, 12, 4) for t in steps}
    assert updates == pytest.approx({0: 0.0, 4: 0.8 - 0.8 * (2 / 3) ** 3, 8: 0.8 - 0.8 * (1 / 3) ** 3, 12: 0.8})
    control = training.Gradual(modules, magnitude_pruner(model), updates)
    train(model, control, 16)
    assert [e["step"] for e in control.log] == [0, 4, 8, 12]
    for entry in control.log:  # uniform allocation: floor(s * numel) per layer, within 1/numel
        level = updates[entry["step"]]
        expect = sum(math.floor(level * n) for n in (128, 64)) / 192
        assert entry["sparsity"] == pytest.approx(expect, abs=1e-12)
    assert kept(model, modules) == {"0": 128 - math.floor(0.8 * 128), "2": 64 - math.floor(0.8 * 64)}


def test_iterative_levels_prune_the_same_fraction_of_what_is_left():
    assert schedules.iterative(0.875, 3, 10) == pytest.approx({10: 0.5, 20: 0.75, 30: 0.875}, abs=1e-15)
    assert schedules.iterative(0.7, 1, 5) == {5: 0.7}
    with pytest.raises(ValueError):
        schedules.iterative(0.5, 0, 5)


def test_iterative_magnitude_pruning_rewinds_every_weight_and_nests_its_masks():
    model = mlp()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    modules = layers.targets(model)
    rounds = schedules.iterative(0.75, 2, 5)
    control = training.IterativeMagnitude(model, modules, magnitude_pruner(model), rounds, rewind_step=0)
    seen = []  # the weights right after each round's rewinding
    original = control.before_forward

    def before_forward(step):
        original(step)
        if step in rounds:
            seen.append((step, {k: v.clone() for k, v in model.state_dict().items()}, dict(control.masks)))
            assert control.optimizer.state == {}  # restarted with the rewound network

    control.before_forward = before_forward
    train(model, control, 15)
    previous = None
    for _, state, masks in seen:
        for key, value in state.items():
            name = key.rsplit(".", 1)[0]
            if key.endswith("weight") and name in masks:
                assert torch.equal(value, start[key] * masks[name]), key  # rewound, then masked
            else:
                assert torch.equal(value, start[key]), key  # biases rewound too
        if previous is not None:  # a weight pruned in one round stays pruned
            assert all(bool((masks[n] <= previous[n]).all()) for n in masks)
        previous = masks
    assert [e["step"] for e in control.log] == [5, 10]
    assert [e["sparsity"] for e in control.log] == [(64 + 32) / 192, (96 + 48) / 192]
    with pytest.raises(ValueError):
        training.IterativeMagnitude(model, modules, magnitude_pruner(model), rounds, rewind_step=5)


def test_rigl_keeps_its_exact_counts_through_100_updates_and_anneals_by_the_cosine():
    model = mlp()
    modules = layers.targets(model)
    start = {name: structure.per_layer(torch.rand(layers.matrix(m).shape, generator=torch.Generator().manual_seed(1)), 0.8)
             for name, m in modules.items()}  # fmt: skip
    counts = {name: int(keep.sum()) for name, keep in start.items()}
    fraction = lambda t: schedules.drop_fraction(t, 0.3, 202)  # noqa: E731
    control = training.Dynamic(modules, start, fraction, 2, 202)
    train(model, control, 204)
    updates = control.log[1:]
    assert [e["step"] for e in updates] == list(range(2, 202, 2)) and len(updates) == 100
    for entry in updates:
        assert entry["fraction"] == 0.3 / 2 * (1 + math.cos(math.pi * entry["step"] / 202))
        assert entry["sparsity"] == control.log[0]["sparsity"]  # the budget never moves
    assert {name: int(keep.sum()) for name, keep in control.masks.items()} == counts
    assert sum(e["grown"] for e in updates) > 0  # the masks did move
    assert any(not torch.equal(control.masks[n], start[n]) for n in start)
    for name, module in modules.items():
        assert (layers.matrix(module)[~control.masks[name]] == 0).all()


def test_set_grows_at_random_with_the_same_counts_and_the_same_bytes_for_a_seed():
    def run():
        model = mlp()
        modules = layers.targets(model)
        start = {name: structure.per_layer(layers.matrix(m).detach().abs(), 0.5) for name, m in modules.items()}
        control = training.Dynamic(modules, start, lambda t: 0.2, 3, 30, "random", torch.Generator().manual_seed(4))
        train(model, control, 30)
        return control.masks, model.state_dict()

    (masks, state), (masks2, state2) = run(), run()
    assert {n: int(k.sum()) for n, k in masks.items()} == {"0": 64, "2": 32}
    assert all(torch.equal(masks[n], masks2[n]) for n in masks)
    assert all(torch.equal(state[k], state2[k]) for k in state)


def test_mask_decay_follows_its_formula():
    assert training.mask_decay(0, "none", 10) == 0.0
    assert [training.mask_decay(t, "linear", 4) for t in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert training.mask_decay(2, "exponential", 10) == math.exp(-1.0)
    assert training.mask_decay(10, "exponential", 10) == 0.0
    with pytest.raises(ValueError):
        training.mask_decay(0, "cosine", 10)


def test_srste_forward_sees_n_m_weights_and_the_gradient_adds_lambda_times_the_pruned_weights():
    layer = nn.Linear(8, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -4, 3, 2, 0.5, 0.1, -0.2, 5], [2, 1, -1, 3, 4, -3, 2, 1]]))
    dense = layer.weight.detach().clone()
    keep = torch.tensor([[0, 1, 1, 0, 1, 0, 0, 1], [1, 0, 0, 1, 1, 1, 0, 0]], dtype=torch.bool)
    control = training.SRSTE({"l": layer}, 2, 4, lambda_w=0.1)
    control.before_forward(0)
    assert torch.equal(control.masks["l"], keep)
    assert torch.equal(layer.weight.detach(), dense * keep)  # the forward pass's weights
    x = torch.ones(1, 8)
    layer(x).sum().backward()
    control.after_backward(0)
    assert torch.equal(layer.weight.detach(), dense)  # the dense weights train on
    assert torch.allclose(layer.weight.grad, torch.ones(2, 8) + 0.1 * dense * ~keep)  # straight through + SR term
    masks = control.finish()
    assert torch.equal(masks["l"], keep) and torch.equal(layer.weight.detach(), dense * keep)


def test_srste_with_linear_decay_scales_the_pruned_weights_then_trains_to_a_valid_n_m_model():
    layer = nn.Linear(8, 2, bias=False)
    control = training.SRSTE({"l": layer}, 2, 4, lambda_w=2e-4, decay="linear", decay_end=4)
    dense = layer.weight.detach().clone()
    control.before_forward(1)  # beta = 0.75
    keep = control.masks["l"]
    assert torch.allclose(layer.weight.detach(), dense * (keep + 0.75 * ~keep))
    control.after_backward(1)
    model = mlp()
    modules = layers.targets(model)
    control = training.SRSTE(modules, 2, 4, 2e-4, "linear", 10)
    train(model, control, 20)
    for name, module in modules.items():
        keep = control.masks[name]
        assert (keep.reshape(-1, 4).sum(1) == 2).all() and (layers.matrix(module)[~keep] == 0).all()


def test_rigl_zeroes_newly_grown_weights_after_the_step_and_clears_their_moments():
    model = mlp()
    modules = layers.targets(model)
    start = {name: structure.per_layer(layers.matrix(m).detach().abs(), 0.5) for name, m in modules.items()}
    control = training.Dynamic(modules, start, lambda t: 0.25, 1, 10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    control.bind(optimizer)
    x, y = torch.randn(16, 8, generator=torch.Generator().manual_seed(0)), torch.zeros(16, 4)
    for step in range(2):  # step 0 trains; step 1 trains, then drops and grows
        before = {name: keep.clone() for name, keep in control.masks.items()}
        control.before_forward(step)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        control.after_backward(step)
        optimizer.step()
        control.after_step(step)
    for name, module in modules.items():
        fresh = control.masks[name] & ~before[name]
        assert fresh.sum() > 0 and (layers.matrix(module)[fresh] == 0).all()
        assert (layers.matrix(module)[~control.masks[name]] == 0).all()
        for value in optimizer.state[module.weight].values():
            if torch.is_tensor(value) and value.shape == module.weight.shape:
                assert (value[fresh] == 0).all()
    assert control.log[-1]["grown"] == sum(int((control.masks[n] & ~before[n]).sum()) for n in modules)


def test_a_layer_without_a_gradient_keeps_its_mask():
    model = mlp()
    modules = layers.targets(model)
    start = {name: structure.per_layer(layers.matrix(m).detach().abs(), 0.5) for name, m in modules.items()}
    control = training.Dynamic(modules, start, lambda t: 0.5, 1, 10)
    model[0].weight.grad = torch.ones_like(model[0].weight)
    model[2].weight.grad = None
    control.after_step(1)
    assert torch.equal(control.masks["2"], start["2"]) and not torch.equal(control.masks["0"], start["0"])


def test_iterative_pruning_rewinds_to_a_later_step():
    model = mlp()
    modules = layers.targets(model)
    snapshots = {}
    rounds = schedules.iterative(0.5, 1, 6)
    control = training.IterativeMagnitude(model, modules, magnitude_pruner(model), rounds, rewind_step=2)
    original = control.before_forward

    def before_forward(step):
        if step == 2:
            snapshots["rewind"] = {k: v.clone() for k, v in model.state_dict().items()}
        original(step)
        if step == 6:
            snapshots["after"] = {k: v.clone() for k, v in model.state_dict().items()}

    control.before_forward = before_forward
    train(model, control, 8)
    masks = control.masks
    for key, value in snapshots["after"].items():
        name = key.rsplit(".", 1)[0]
        expect = snapshots["rewind"][key] * masks[name] if key.endswith("weight") else snapshots["rewind"][key]
        assert torch.equal(value, expect), key
