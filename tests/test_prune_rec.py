"""`sparse prune` on a train-rec checkpoint, then `train-rec init=` ranks with the pruned model
(max_epochs=0) or fine-tunes it with its zeros kept, and `sparse eval` reads both runs."""

from __future__ import annotations

import json

from conftest import error_line
from test_rec import SMALL, rule_data, train


def test_a_pruned_recommender_is_ranked_and_fine_tuned_with_its_zeros_kept(sparse, tmp_path):
    from safetensors.torch import load_file

    from sparsecli.sparsity import masks

    data = rule_data(tmp_path / "rule")
    dense = train(sparse, data, "trainer.max_epochs=20").run_dir
    pruned = sparse("prune", f"checkpoint={dense}", "sparsity.sparsity=0.5", "runtime.threads=1")
    assert pruned.exit_code == 0, pruned.stderr
    report = json.loads((pruned.run_dir / "report.json").read_text())
    # SASRec's Linear layers: attention out_proj, the feed-forward pair (its item table is an Embedding)
    assert report["target_layers"] == 3 and report["sparsity_of_targets"] == 0.5
    assert (pruned.run_dir / "items.tsv").read_bytes() == (dense / "items.tsv").read_bytes()

    ranked = train(sparse, data, f"init={pruned.run_dir}", "trainer.max_epochs=0").run_dir
    weights, kept = load_file(ranked / "model.safetensors"), masks.load(ranked / "masks.safetensors")
    assert weights.keys() == load_file(pruned.run_dir / "model.safetensors").keys()
    for name, keep in kept.items():
        assert ((weights[f"{name}.weight"] != 0) == keep).all()
    tuned = train(sparse, data, f"init={pruned.run_dir}", "trainer.max_epochs=3").run_dir
    weights = load_file(tuned / "model.safetensors")
    for name, keep in kept.items():
        assert (weights[f"{name}.weight"][~keep] == 0).all()  # training moved none of them
    again = sparse("train-rec", "data=atomic", f"data.path={data}", "data.file=rule.inter", *SMALL,
                   f"init={pruned.run_dir}", "sparsity=dsl")  # fmt: skip
    assert again.exit_code != 0 and error_line(again).startswith("error: sparsity:")
    # a dense model pruned gradually while it is fine-tuned (GMP on a trained model)
    gmp = train(sparse, data, f"init={dense}", "trainer.max_epochs=4", "sparsity=gradual", "sparsity.end=4",
                "sparsity.update_frequency=2")  # fmt: skip
    assert set(json.loads((gmp.run_dir / "metrics.json").read_text())["sparsity"]["density"].values()) == {0.5}
    for run in (dense, ranked, tuned):
        evaluated = sparse("eval", f"search_run={run}", "eval=rec")
        assert evaluated.exit_code == 0, evaluated.stderr


def test_a_saved_model_with_other_settings_is_refused_in_one_line(sparse, tmp_path):
    data = rule_data(tmp_path / "rule")
    dense = train(sparse, data, "trainer.max_epochs=1").run_dir
    result = sparse(
        "train-rec", "data=atomic", f"data.path={data}", "data.file=rule.inter", "model=sasrec", f"init={dense}"
    )
    assert result.exit_code != 0 and "init" in error_line(result) and "model.dim=16 there" in error_line(result)
    untrained = sparse("train-rec", "data=atomic", f"data.path={data}", "data.file=rule.inter", "model=sasrec",
                       "trainer.max_epochs=0")  # fmt: skip
    assert untrained.exit_code != 0 and "trainer.max_epochs" in error_line(untrained)
    other = rule_data(tmp_path / "other")
    with open(other / "rule.inter", "a") as handle:
        handle.write("u0\ti99\t999\n")  # one item more: the item numbers no longer mean the same
    result = sparse(
        "train-rec", "data=atomic", f"data.path={other}", "data.file=rule.inter", *SMALL, f"init={dense}",
        "trainer.max_epochs=0",
    )  # fmt: skip
    assert result.exit_code != 0 and "init" in error_line(result) and "another catalogue" in error_line(result)
    calibrated = sparse("prune", f"checkpoint={dense}", "sparsity.criterion=wanda")
    assert calibrated.exit_code != 0 and "sparsity.criterion" in error_line(calibrated)


def test_an_unfinished_or_edited_run_is_refused_as_checkpoint_and_init(sparse, tmp_path):
    import shutil

    data = rule_data(tmp_path / "rule")
    dense = train(sparse, data, "trainer.max_epochs=1").run_dir
    unfinished = dense.parent / "00000000deadbeef"
    shutil.copytree(dense, unfinished)
    (unfinished / "DONE.json").unlink()
    edited = dense.parent / "00000000cafef00d"
    shutil.copytree(dense, edited)
    with open(edited / "model.json", "a") as handle:
        handle.write(" ")
    rank = ("train-rec", "data=atomic", f"data.path={data}", "data.file=rule.inter", *SMALL, "trainer.max_epochs=0")
    for run, line in (
        (unfinished, f"{unfinished} is incomplete (no DONE.json): the run was interrupted or failed; rerun the "
                     "`sparse train-rec ...` that created it (it resumes), then pass it again"),
        (edited, f"{edited} changed after it finished (model.json is missing or has another size); recompute it: "
                 "rerun its `sparse train-rec ...` with runtime.force=true"),
    ):  # fmt: skip
        pruned = sparse("prune", f"checkpoint={run}")
        assert pruned.exit_code == 3 and error_line(pruned) == f"error: checkpoint: {line}"
        ranked = sparse(*rank, f"init={run}")
        assert ranked.exit_code == 3 and error_line(ranked) == f"error: init: {line}"
        assert "INFO" not in ranked.stderr  # refused before the data is read
    missing = sparse(*rank, f"init={tmp_path / 'nope'}")
    assert missing.exit_code == 3 and error_line(missing) == (
        f"error: init: {tmp_path / 'nope'} is not a folder; pass a train-rec or prune run directory"
    )
