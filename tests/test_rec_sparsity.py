"""Sparse training inside `sparse train-rec` (the `sparsity` group): DSL, RigL, SET, gradual
pruning and SR-STE on the tiny next-item rule, with the budget exact at every epoch, zeros
where the saved masks prune, the same bytes on rerun and after an interrupted run resumes."""

from __future__ import annotations

import json

import pytest

from conftest import error_line
from test_rec import SMALL, interrupted_then_resumed, rule_data, train

DSL = ["sparsity=dsl", "sparsity.sparsity=0.5", "sparsity.update_frequency=4"]
WRITTEN = ("model.safetensors", "masks.safetensors", "test/run.trec.gz", "metrics.json")


def saved_zeros_match(run) -> dict:
    from safetensors.torch import load_file

    from sparsecli.sparsity import masks

    weights, kept = load_file(run / "model.safetensors"), masks.load(run / "masks.safetensors")
    for name, keep in kept.items():
        key = name if name.endswith("in_proj_weight") else f"{name}.weight"
        assert (weights[key][~keep] == 0).all(), name
    return kept


def test_dsl_learns_the_rule_at_half_density_with_a_constant_budget(sparse, tmp_path):
    run = train(sparse, rule_data(tmp_path / "rule"), *DSL).run_dir
    results = json.loads((run / "metrics.json").read_text())
    assert results["test"]["HR@1"] == 1.0
    sparsity = results["sparsity"]
    # every tensor at density 0.5, the item and position tables and the packed q/k/v included
    assert set(sparsity["density"]) == {
        "encoder.items", "encoder.positions", "encoder.blocks.layers.0.self_attn.in_proj_weight",
        "encoder.blocks.layers.0.self_attn.out_proj", "encoder.blocks.layers.0.linear1",
        "encoder.blocks.layers.0.linear2",
    }  # fmt: skip
    assert set(sparsity["density"].values()) == {0.5}
    assert sparsity["pruned"] == sparsity["target_params"] // 2
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert {e["sparsity"]["active_params"] for e in log} == {sparsity["active_params"]}
    updates = sparsity["schedule_log"][1:]
    assert [u["step"] for u in updates] == list(range(4, 4 * (len(updates) + 1), 4))
    assert all(u["sparsity"] == sparsity["schedule_log"][0]["sparsity"] for u in updates)
    assert sum(u["grown"] for u in updates) > 0
    kept = saved_zeros_match(run)
    assert sum(int(k.sum()) for k in kept.values()) == sparsity["target_params"] - sparsity["pruned"]
    flops = results["training"]["flops_per_step"]  # exact counts: tests/test_flops.py
    # attention's own products and the loss stay dense; each masked weight's products are halved
    assert flops["dense"] / 2 < flops["sparse"] < flops["sparse_update_step"] < flops["dense"]
    assert flops["update_frequency"] == 4


@pytest.mark.parametrize(
    "schedule",
    [
        ["sparsity=set", "sparsity.sparsity=0.6", "sparsity.update_frequency=3"],
        ["sparsity=rigl", "sparsity.sparsity=0.6", "sparsity.update_frequency=2", "sparsity.end=7"],
    ],
)
def test_same_seed_same_bytes_and_a_resumed_sparse_run_matches(sparse, tmp_path, monkeypatch, schedule):
    folder = rule_data(tmp_path / "rule")
    args = ("trainer.max_epochs=4", "model.dropout=0.3", *schedule)
    first = train(sparse, folder, *args, f"runs_root={tmp_path / 'a'}").run_dir
    resumed = interrupted_then_resumed(sparse, folder, args, tmp_path / "b", monkeypatch)
    for name in WRITTEN:
        assert (first / name).read_bytes() == (resumed.run_dir / name).read_bytes(), name
    saved_zeros_match(first)


def test_gradual_pruning_during_training_reaches_its_target(sparse, tmp_path):
    args = ["sparsity=gradual", "sparsity.sparsity=0.75", "sparsity.end=40", "sparsity.update_frequency=8",
            "trainer.max_epochs=30"]  # fmt: skip
    run = train(sparse, rule_data(tmp_path / "rule"), *args).run_dir
    sparsity = json.loads((run / "metrics.json").read_text())["sparsity"]
    steps = [c["step"] for c in sparsity["schedule_log"]]
    assert steps == [0, 8, 16, 24, 32, 40]
    assert sparsity["schedule_log"][-1]["sparsity"] == pytest.approx(0.75, abs=1e-3)
    saved_zeros_match(run)


def test_srste_trains_two_four_sasrec_and_saves_a_valid_n_m_model(sparse, tmp_path):
    from sparsecli.sparsity import structure

    run = train(sparse, rule_data(tmp_path / "rule"), "sparsity=srste", "trainer.max_epochs=30").run_dir
    results = json.loads((run / "metrics.json").read_text())
    assert set(results["sparsity"]["density"].values()) == {0.5}
    kept = saved_zeros_match(run)
    assert all(structure.is_n_m(keep, 2, 4) for keep in kept.values())


@pytest.mark.parametrize(
    "args,where",
    [
        (["model=ease", "sparsity=dsl"], "sparsity"),
        (["sparsity=imp"], "sparsity"),
        (["sparsity=oneshot", "sparsity.criterion=wanda"], "sparsity"),
        (["sparsity=dsl", "sparsity.layer_types=[conv]"], "sparsity.layer_types"),
        (["sparsity=oneshot", "sparsity.layer_types=[embedding]", "sparsity.structure=rows"], "sparsity.layer_types"),
    ],
)
def test_sparse_settings_that_cannot_work_are_one_line(sparse, tmp_path, args, where):
    folder = rule_data(tmp_path / "rule")
    small = [a for a in SMALL if not a.startswith("model.")] if "model=ease" in args else SMALL
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *small, *args)
    assert result.exit_code != 0 and error_line(result).startswith(f"error: {where}"), error_line(result)


def test_the_best_epoch_is_chosen_only_once_the_gradual_schedule_has_settled(sparse, tmp_path):
    # a dense early epoch validates best on this data; it must not be what is kept
    args = ["sparsity=gradual", "sparsity.sparsity=0.5", "sparsity.end=4", "sparsity.update_frequency=2",
            "trainer.max_epochs=4"]  # fmt: skip
    run = train(sparse, rule_data(tmp_path / "rule"), *args).run_dir
    results = json.loads((run / "metrics.json").read_text())
    assert results["training"]["best_epoch"] >= 3
    assert set(results["sparsity"]["density"].values()) == {0.5}
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert [e.get("before_final_sparsity", False) for e in log][:2] == [True, True]
    saved_zeros_match(run)


@pytest.mark.parametrize(
    "args,where",
    [
        (["sparsity=dsl", "sparsity.update_frequency=100"], "sparsity.update_frequency"),  # never an update
        (["sparsity=rigl", "sparsity.end=1000"], "sparsity.end"),  # beyond the run
        (["sparsity=srste", "sparsity.sparsity=0.8"], "sparsity.sparsity"),  # N:M fixes it
        (["sparsity=dsl", "sparsity.layer_types=[embedding]", "sparsity.ignore=[items,positions]"], "sparsity.include"),
    ],
)
def test_schedules_that_cannot_act_in_this_run_are_refused(sparse, tmp_path, args, where):
    folder = rule_data(tmp_path / "rule")
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *SMALL,
                    "trainer.max_epochs=3", *args)  # fmt: skip
    assert result.exit_code != 0 and error_line(result).startswith(f"error: {where}"), error_line(result)
