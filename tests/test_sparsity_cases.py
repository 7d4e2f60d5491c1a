"""The pruning cases of ../shared/cases/prune, each from real bug reports, as tests of the pure
`sparsity` package: what the right answer is, exactly."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from sparsecli.sparsity import allocation, criteria, layers, masks, schedules, structure

CASES = SHARED_DATA.parent / "cases" / "prune"  # found as conftest finds ../shared (a CI clone in /tmp too)
pytestmark = pytest.mark.skipif(not CASES.is_dir(), reason="../shared/cases/prune is not here")


def case(name: str) -> tuple[Path, dict, dict]:
    folder = CASES / name
    return folder, json.loads((folder / "params.json").read_text()), json.loads((folder / "expected.json").read_text())


def test_cubic_schedule_holds_between_updates_and_ends_exactly_at_the_final_sparsity():
    _, params, expected = case("cubic_schedule")
    start, every, n = params["begin_step"], params["frequency"], params["n_updates"]
    end = start + n * every
    assert end == expected["end_step"]

    def at(step):
        return schedules.gradual(step, params["initial_sparsity"], params["final_sparsity"], start, end, every)

    for step, value in expected["sparsity_at_update_steps"].items():
        k = (int(step) - start) // every
        assert at(int(step)) == pytest.approx(0.9 * (1 - (1 - k / n) ** 3), abs=1e-12)  # the closed form
        assert at(int(step)) == pytest.approx(value, abs=5e-5)  # the case's 4 decimals
    for step, value in expected["applied_sparsity_at_query_steps"].items():
        assert at(int(step)) == pytest.approx(value, abs=5e-5), step
    assert at(end) == params["final_sparsity"] and at(start) == params["initial_sparsity"]
    assert list(schedules.update_steps(start, end, every)) == [int(s) for s in expected["sparsity_at_update_steps"]]


def test_global_magnitude_collapses_a_small_scale_layer_and_the_floor_prevents_it():
    folder, params, expected = case("global_magnitude_collapse")
    weights = {name: torch.from_numpy(np.load(folder / f"{name}.npy")) for name in params["order"]}
    scores = {name: criteria.magnitude(w) for name, w in weights.items()}
    collapsed = allocation.global_masks(scores, params["sparsity"])
    sparsity = {name: 1 - float(keep.float().mean()) for name, keep in collapsed.items()}
    assert sparsity == expected["global_magnitude"]["per_layer_sparsity"]
    assert sum(int((~k).sum()) for k in collapsed.values()) == expected["n_pruned_total"]
    # a floor of 10% density per layer: layer_a keeps 2 weights, the other 38 come from b and c
    floored = allocation.global_masks(scores, params["sparsity"], min_density=0.1)
    assert int(floored["layer_a.weight"].sum()) == 2
    assert sum(int((~k).sum()) for k in floored.values()) == expected["n_pruned_total"]
    uniform = {name: structure.per_layer(s, params["sparsity"]) for name, s in scores.items()}
    assert {n: 1 - float(k.float().mean()) for n, k in uniform.items()} == expected["layerwise_uniform"][
        "per_layer_sparsity"
    ]


def test_pruned_weights_stay_zero_through_momentum_and_weight_decay():
    linear, optimizer, grads, expected = momentum_case()
    modules = {"layer": linear}
    linear.weight.grad = torch.from_numpy(grads[0]).float().view(1, 8)
    optimizer.step()
    assert linear.weight.detach().view(-1).numpy() == pytest.approx(np.array(expected["w_after_step1"]), abs=1e-6)
    keep = {"layer": structure.per_layer(criteria.magnitude(linear.weight), 0.5)}
    assert keep["layer"].view(-1).int().tolist() == expected["mask (1 = keep)"]
    masks.apply(modules, keep)
    masks.clear_optimizer_state(optimizer, modules, keep)
    for step in (1, 2):
        linear.weight.grad = torch.from_numpy(grads[step]).float().view(1, 8)  # dense, as without the mask
        optimizer.step()
        masks.apply(modules, keep)
    final = linear.weight.detach().view(-1).numpy()
    assert final == pytest.approx(np.array(expected["final_w_correct"]), abs=1e-6)
    assert ((final == 0) == ~keep["layer"].view(-1).numpy()).all()  # exactly the mask, no tolerance


def momentum_case():
    """The momentum_regrowth case's layer (w0) and SGD optimizer, its gradients and expectations."""
    folder, params, expected = case("momentum_regrowth")
    w0, grads = np.load(folder / "w0.npy"), np.load(folder / "grads.npy")
    linear = torch.nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(w0).float().view(1, 8))
    optimizer = torch.optim.SGD(
        linear.parameters(), lr=params["lr"], momentum=params["momentum"], weight_decay=params["weight_decay"]
    )
    return linear, optimizer, grads, expected


def test_momentum_regrowth_case_through_the_training_loops_controller():
    """The same case driven as train-rec and recovery drive masks (training.Fixed)."""
    from sparsecli.sparsity import training

    linear, optimizer, grads, expected = momentum_case()
    linear.weight.grad = torch.from_numpy(grads[0]).float().view(1, 8)
    optimizer.step()
    keep = structure.per_layer(criteria.magnitude(linear.weight), 0.5)
    control = training.Fixed({"layer": linear}, {"layer": keep})
    control.bind(optimizer)  # after the dense step: its momentum at pruned places is cleared
    for step in (1, 2):
        control.before_forward(step)
        linear.weight.grad = torch.from_numpy(grads[step]).float().view(1, 8)
        control.after_backward(step)
        optimizer.step()
        control.after_step(step)
    final = control.finish()["layer"]
    weight = linear.weight.detach().view(-1).numpy()
    assert weight == pytest.approx(np.array(expected["final_w_correct"]), abs=1e-6)
    assert ((weight == 0) == ~final.view(-1).numpy()).all()


def test_n_m_groups_run_along_the_input_dimension_in_both_storage_layouts():
    folder, params, expected = case("nm_axis")
    linear_w = torch.from_numpy(np.load(folder / "linear_weight.npy"))
    keep = structure.n_m(criteria.magnitude(linear_w), params["n"], params["m"])
    assert keep.int().tolist() == expected["mask_linear [out,in] (1 = keep)"]
    assert structure.is_n_m(keep, 2, 4) and not structure.is_n_m(keep.T.contiguous(), 2, 4)
    assert float((linear_w.abs() * keep).sum()) == expected["kept_abs_sum"]

    class Conv1D(torch.nn.Module):  # transformers' GPT-2 layer: weight stored [in, out]
        def __init__(self, weight):
            super().__init__()
            self.nf = weight.shape[1]
            self.weight = torch.nn.Parameter(weight.clone())

    conv = Conv1D(torch.from_numpy(np.load(folder / "conv1d_weight.npy")))
    conv_keep = structure.n_m(criteria.magnitude(layers.matrix(conv)), params["n"], params["m"])
    assert layers.stored(conv, conv_keep).int().tolist() == expected["mask_conv1d [in,out]"]
    masks.apply({"c": conv}, {"c": conv_keep})
    assert (conv.weight.detach() != 0).int().tolist() == expected["mask_conv1d [in,out]"]


def test_an_exported_pruned_layer_is_a_plain_layer():
    folder, params, expected = case("torch_prune_checkpoint")
    linear = torch.nn.Linear(8, 4)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.load(folder / "weight.npy")))
        linear.bias.copy_(torch.from_numpy(np.load(folder / "bias.npy")))
    keep = structure.per_layer(criteria.magnitude(linear.weight), params["amount"])
    assert keep.int().tolist() == expected["mask (1 = keep)"]
    masks.apply({"": linear}, {"": keep})
    state = linear.state_dict()
    assert set(state) == set(expected["checkpoint_after_export"]["state_dict_keys"])
    assert sum(t.numel() for t in state.values()) == expected["checkpoint_after_export"]["n_tensor_elements_saved"]
    assert int((state["weight"] == 0).sum()) == expected["checkpoint_after_export"]["zeros_in_weight"]
    assert state["weight"].tolist() == [pytest.approx(row) for row in expected["pruned_weight"]]
    fresh = torch.nn.Linear(8, 4)
    fresh.load_state_dict(copy.deepcopy(linear).state_dict(), strict=True)
    assert torch.equal(fresh.weight, linear.weight)


def test_wanda_norms_run_over_tokens_and_rows_are_compared_alone():
    folder, params, expected = case("wanda_norm_axis")
    weight = torch.from_numpy(np.load(folder / "weight.npy"))
    stats = criteria.FeatureStats(weight.shape[1])
    stats.add(torch.from_numpy(np.load(folder / "inputs.npy")))
    assert stats.tokens == 8
    assert stats.sq_norms.sqrt().tolist() == pytest.approx(expected["input_feature_norms ||X[:,j]||_2"], abs=1e-6)
    scores = criteria.wanda(weight, stats.sq_norms)
    assert scores.tolist() == [pytest.approx(row, abs=1e-5) for row in expected["scores S"]]
    keep = structure.per_row(scores, params["sparsity"])
    assert keep.int().tolist() == expected["mask_unstructured_50pct_per_row (1 = keep)"]
    assert (keep.sum(dim=1) == 4).all()
    nm = structure.n_m(scores, *params["nm"])
    assert nm.int().tolist() == expected["mask_2:4 (1 = keep)"]
    assert structure.is_n_m(nm, 2, 4) and not structure.is_n_m(keep, 2, 4)
