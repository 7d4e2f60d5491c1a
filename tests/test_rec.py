"""`sparse train-rec` on small synthetic sequences with known answers, and the properties
its figures rest on: metric parity with ir-measures and RecBole's formulas, determinism,
resuming, losses, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import error_line
from sparsecli.recommend import export, losses, metrics, ranking
from sparsecli.recommend.data.types import Sequences, Targets
from sparsecli.recommend.models.base import Scorer

N_ITEMS = 20
SMALL = [
    "model=sasrec",
    "model.dim=16",
    "model.layers=1",
    "model.heads=1",
    "model.dropout=0.0",
    "model.max_len=10",
    "trainer.batch_size=32",
    "trainer.lr=0.01",
    "trainer.max_epochs=80",
    "trainer.patience=80",
    "runtime.threads=1",
]


def rule_data(folder: Path, users: int = 60) -> Path:
    """Users walk the items in a cycle (i -> i+1 mod 20) from a random start, for 6 to 12
    steps: the next item is always determined by the last one, whatever the position."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for u in range(users):
        start, length = int(rng.integers(N_ITEMS)), int(rng.integers(6, 13))
        lines += [f"u{u}\ti{(start + t) % N_ITEMS}\t{1000 + t}" for t in range(length)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rule.inter").write_text("\n".join(lines) + "\n")
    return folder


def train(sparse, folder: Path, *extra: str):
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *SMALL, *extra)
    assert result.exit_code == 0, result.stderr
    return result


def test_sasrec_learns_a_deterministic_next_item_rule(sparse, tmp_path):
    run = train(sparse, rule_data(tmp_path / "rule")).run_dir
    results = json.loads((run / "metrics.json").read_text())
    assert results["test"]["HR@1"] == 1.0 and results["valid"]["HR@1"] == 1.0
    assert results["test"]["users"] == 60 and results["protocol"]["ranking"] == "full"
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["epoch"] == 1 and "NDCG@10" in log[0]["valid"] and "wall_s" in log[0]
    assert not (run / "work").exists()


def test_ir_measures_on_the_written_run_gives_the_same_figures(sparse, tmp_path):
    run = train(sparse, rule_data(tmp_path / "rule"), "trainer.max_epochs=2").run_dir
    ours = json.loads((run / "metrics.json").read_text())["test"]
    evaluated = sparse("eval", f"search_run={run}", "eval=rec")
    assert evaluated.exit_code == 0, evaluated.stderr
    theirs = json.loads((evaluated.run_dir / "metrics.json").read_text())
    for mine, measure in (("NDCG@10", "nDCG@10"), ("HR@10", "R@10"), ("MRR@10", "RR@10"), ("NDCG@20", "nDCG@20")):
        assert theirs[measure] == pytest.approx(ours[mine], abs=1e-9)


def _fixed_matrix(ties: bool):
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((50, 300)).astype(np.float32)
    if ties:
        scores = np.round(scores, 1)  # many ties, around the targets too
    targets = rng.integers(300, size=50)
    seqs = Sequences(np.zeros(51, dtype=np.int64), np.zeros(0, dtype=np.int32), None)
    return torch.from_numpy(scores), Targets(np.arange(50, dtype=np.int32), targets.astype(np.int32), seqs)


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_ir_measures_on_a_fixed_score_matrix(tmp_path, ties):
    import ir_measures

    scores, targets = _fixed_matrix(ties)
    config = ranking.RankingConfig(mask_history=False, ks=[10], top=100)
    ranked = ranking.full_ranking(Scorer(lambda s, rows: scores[rows]), targets, 300, config, torch.device("cpu"))
    ours = metrics.means(metrics.per_user(ranked.ranks, [10]))
    users, items = [f"u{u}" for u in range(50)], [f"i{i}" for i in range(300)]
    export.write_split(tmp_path, ranked, targets, users, items, "t")
    run = list(ir_measures.read_trec_run(str(tmp_path / "run.trec.gz")))
    qrels = list(ir_measures.read_trec_qrels(str(tmp_path / "qrels.txt")))
    theirs = ir_measures.calc_aggregate([ir_measures.nDCG @ 10, ir_measures.R @ 10, ir_measures.RR @ 10], qrels, run)
    assert theirs[ir_measures.nDCG @ 10] == pytest.approx(ours["NDCG@10"], abs=1e-9)
    assert theirs[ir_measures.R @ 10] == pytest.approx(ours["HR@10"], abs=1e-9)
    assert theirs[ir_measures.RR @ 10] == pytest.approx(ours["MRR@10"], abs=1e-9)


def test_metrics_equal_recboles_formulas():
    """RecBole 1.2.1 (recbole/evaluator/metrics.py) on its full-sort topk matrix: hit =
    any(pos_index[:k]); mrr = 1/(first hit + 1); ndcg = sum(pos/log2(i+2)) / idcg, idcg of
    min(#relevant, k) items; without ties, so that torch.topk's order is the only order."""
    scores, targets = _fixed_matrix(False)
    ranks = metrics.pessimistic_ranks(scores, torch.from_numpy(targets.targets.astype(np.int64))).numpy()
    ours = metrics.means(metrics.per_user(ranks, [10]))
    topk = torch.topk(scores, 10, dim=1).indices.numpy()
    pos_index = topk == targets.targets[:, None]
    hit = pos_index.any(axis=1).astype(float)
    first = np.where(pos_index.any(axis=1), pos_index.argmax(axis=1), -1)
    mrr = np.where(first >= 0, 1 / np.maximum(first + 1.0, 1.0), 0.0)
    dcg = (pos_index / np.log2(np.arange(10) + 2)).sum(axis=1)
    idcg = 1 / np.log2(2)
    assert ours["HR@10"] == pytest.approx(hit.mean(), abs=1e-6)
    assert ours["MRR@10"] == pytest.approx(mrr.mean(), abs=1e-6)
    assert ours["NDCG@10"] == pytest.approx((dcg / idcg).mean(), abs=1e-6)


def test_same_seed_same_bytes_and_an_interrupted_run_resumes_to_them(sparse, tmp_path, monkeypatch):
    folder = rule_data(tmp_path / "rule")
    args = ("trainer.max_epochs=4", "model.dropout=0.3", "loss=gbce", "loss.negatives=5")
    first = train(sparse, folder, *args, f"runs_root={tmp_path / 'a'}").run_dir
    second = train(sparse, folder, *args, f"runs_root={tmp_path / 'b'}").run_dir
    for name in ("model.safetensors", "test/run.trec.gz", "valid/run.trec.gz"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name

    resumed = interrupted_then_resumed(sparse, folder, args, tmp_path / "c", monkeypatch)
    for name in ("model.safetensors", "test/run.trec.gz", "valid/run.trec.gz"):
        assert (first / name).read_bytes() == (resumed.run_dir / name).read_bytes(), name


def interrupted_then_resumed(sparse, folder, args, root, monkeypatch):
    """A run stopped (Ctrl-C) right after its epoch-2 checkpoint, then rerun: the rerun's result."""
    from sparsecli.recommend import train as training

    saved = training.save_checkpoint

    def stop_after_epoch_2(folder, model, optimizer, state, *rest):
        saved(folder, model, optimizer, state, *rest)
        if state["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", stop_after_epoch_2)
    common = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *SMALL, *args)
    assert sparse(*common, f"runs_root={root}").exit_code == 130
    monkeypatch.setattr(training, "save_checkpoint", saved)
    resumed = train(sparse, folder, *args, f"runs_root={root}")
    assert "resuming from the checkpoint after epoch 2" in resumed.stderr
    return resumed


def test_validating_within_epochs_keeps_training_and_stopping_as_they_were(sparse, tmp_path, monkeypatch):
    folder = rule_data(tmp_path / "rule")
    args = ("trainer.max_epochs=12", "trainer.patience=1", "model.dropout=0.3")
    plain = train(sparse, folder, *args).run_dir
    steps = (*args, "trainer.eval_every_steps=1")
    every = train(sparse, folder, *steps).run_dir

    def untimed(run):  # the log less its clock readings
        lines = (run / "train_log.jsonl").read_text().splitlines()
        timed = ("train_s", "steps_per_s", "wall_s")
        return [{k: v for k, v in json.loads(line).items() if k not in timed} for line in lines]

    def trainer_key(run):  # the trainer settings the run key holds
        return json.loads((run / "meta.json").read_text())["config"]["trainer"]

    # a setting added after runs were keyed: left out of the key at its default, so they stay cache hits
    assert "eval_every_steps" not in trainer_key(plain) and trainer_key(every)["eval_every_steps"] == 1
    ends, within = [e for e in untimed(every) if "loss" in e], [e for e in untimed(every) if e.get("within_epoch")]
    # 60 windows in batches of 32: 2 steps an epoch, validated after the first and at the end
    assert [e["step"] for e in within] == [1, 3, 5, 7, 9, 11, 13] and [e["epoch"] for e in within] == list(range(1, 8))
    assert ends == untimed(plain)  # the same losses and epoch-end figures, and patience stops both after epoch 7
    summary = json.loads((every / "metrics.json").read_text())["training"]
    assert summary["stopped"] == "patience" and summary["epochs"] == 7
    best = max(within + ends, key=lambda e: (e["valid"]["NDCG@10"], -e["step"]))  # the first of equal figures
    assert (summary["best_step"], summary["best"]) == (best["step"], best["valid"]["NDCG@10"])

    resumed = interrupted_then_resumed(sparse, folder, steps, tmp_path / "c", monkeypatch).run_dir
    assert (every / "model.safetensors").read_bytes() == (resumed / "model.safetensors").read_bytes()
    assert untimed(every) == untimed(resumed)

    # stopped within epoch 3, after its first step's validation found a new best: the kept best
    # weights stay those of the last checkpoint, and the rerun resumes from both
    from sparsecli.recommend import train as training

    saved_checkpoint, saved_weights, saved_lr, kept = training.save_checkpoint, training.save_weights, training._lr, {}

    def checkpoint(folder, model, optimizer, state, *rest):
        saved_checkpoint(folder, model, optimizer, state, *rest)
        if state["epoch"] == 2:
            kept["best"] = (folder / training.BEST).read_bytes()

    def weights(*args):
        saved_weights(*args)
        kept["armed"] = "best" in kept

    def lr(*args):  # the next step
        if kept.get("armed"):
            raise KeyboardInterrupt
        return saved_lr(*args)

    for name, stand_in in (("save_checkpoint", checkpoint), ("save_weights", weights), ("_lr", lr)):
        monkeypatch.setattr(training, name, stand_in)
    root = tmp_path / "d"
    common = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *SMALL, *steps)
    assert sparse(*common, f"runs_root={root}").exit_code == 130
    (work,) = root.glob("train-rec/*/work")
    assert (work / training.BEST).read_bytes() == kept["best"] and (work / training.PENDING).is_file()
    for name, original in (("save_checkpoint", saved_checkpoint), ("save_weights", saved_weights), ("_lr", saved_lr)):
        monkeypatch.setattr(training, name, original)
    again = train(sparse, folder, *steps, f"runs_root={root}")
    assert "resuming from the checkpoint after epoch 2" in again.stderr and not (work / training.PENDING).exists()
    assert (every / "model.safetensors").read_bytes() == (again.run_dir / "model.safetensors").read_bytes()


@pytest.mark.parametrize("model", ["popularity", "ease", "gru4rec", "bert4rec"])
def test_every_model_trains_and_writes_a_run(sparse, tmp_path, model):
    folder = rule_data(tmp_path / "rule")
    args = [a for a in SMALL if not a.startswith(("model.dim", "model.layers", "model.heads", "model.dropout"))]
    result = sparse(
        "train-rec",
        "data=atomic",
        f"data.path={folder}",
        "data.file=rule.inter",
        *args,
        f"model={model}",
        "trainer.max_epochs=2",
    )
    assert result.exit_code == 0, result.stderr
    results = json.loads((result.run_dir / "metrics.json").read_text())
    assert 0 <= results["test"]["NDCG@10"] <= 1 and results["test"]["users"] == 60


def test_ease_matches_its_closed_form():
    from sparsecli.recommend.models.config import EASEConfig

    seqs = Sequences(np.array([0, 3, 5, 8]), np.array([0, 1, 2, 1, 3, 0, 2, 3], dtype=np.int32), None)
    model = EASEConfig(l2=2.0).build(4)
    model.fit(seqs)
    x = np.zeros((3, 4))
    x[[0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 2, 1, 3, 0, 2, 3]] = 1
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(4))
    b = np.eye(4) - p / np.diag(p)
    assert np.allclose(model.weights.numpy(), b, atol=1e-6)
    assert np.allclose(model.score(seqs, np.arange(3)).numpy(), x @ b, atol=1e-6)


@pytest.mark.parametrize(
    "loss", [losses.BinaryCrossEntropy(negatives=7), losses.GeneralisedBCE(negatives=7), losses.BPR(negatives=7)]
)
def test_sampled_negatives_never_include_the_positive(loss):
    positives = torch.arange(8).repeat(500)
    drawn = losses.uniform_negatives(positives, 8, 7, torch.Generator().manual_seed(0))
    assert not (drawn == positives.unsqueeze(1)).any()
    assert set(drawn[positives == 3].flatten().tolist()) == {0, 1, 2, 4, 5, 6, 7}  # uniform over the others
    h, weights = torch.randn(len(positives), 4), torch.randn(8, 4)
    ctx = losses.LossContext(torch.Generator().manual_seed(0), torch.full((8,), -np.log(8)))
    assert torch.isfinite(loss(h, positives, weights, None, ctx))


def test_gbce_beta_spans_bce_to_the_calibrated_limit():
    assert losses.GeneralisedBCE(negatives=256, t=0.0).beta(12102) == pytest.approx(1.0)
    assert losses.GeneralisedBCE(negatives=256, t=1.0).beta(12102) == pytest.approx(256 / 12101)


def test_the_prior_logit_is_where_an_uninformed_model_starts():
    # the gBCE loss of constant scores c is beta softplus(-c) + k softplus(c): least at c = log(beta / k)
    config = losses.GeneralisedBCE(negatives=256, t=0.75)
    beta = config.beta(12101)
    c = torch.linspace(-12, 0, 24001, dtype=torch.float64)
    curve = beta * torch.nn.functional.softplus(-c) + 256 * torch.nn.functional.softplus(c)
    assert float(c[curve.argmin()]) == pytest.approx(losses.prior_logit(beta, 256), abs=1e-3)
    assert losses.prior_logit(1.0, 1) == 0.0  # SASRec's BCE with one negative is unchanged
    # with zero scores, the offset puts the loss at that least value
    h, weights = torch.zeros(3, 2), torch.zeros(12101, 2)
    ctx = losses.LossContext(torch.Generator().manual_seed(0), torch.zeros(12101))
    assert float(config(h, torch.tensor([0, 1, 2]), weights, None, ctx)) == pytest.approx(float(curve.min()), rel=1e-4)


@pytest.mark.parametrize("heads,layers,causal", [(1, 1, True), (2, 2, True), (1, 3, True), (2, 2, False)])
def test_scoring_from_the_last_position_equals_the_full_forward(heads, layers, causal):
    from sparsecli.recommend.models.base import left_padded
    from sparsecli.recommend.models.sasrec import Transformer

    torch.manual_seed(0)
    encoder = Transformer(31, 12, 16, layers, heads, 0.5, causal).eval()
    lengths = np.array([1, 2, 5, 12, 20, 3])
    seqs = Sequences(np.concatenate([[0], np.cumsum(lengths)]), np.arange(lengths.sum(), dtype=np.int32) % 30, None)
    inputs = left_padded(seqs, np.arange(len(lengths)), 12, trim=True)
    with torch.no_grad():
        assert torch.allclose(encoder(inputs)[:, -1], encoder.last(inputs), atol=1e-5)


def test_an_untied_output_layer_trains(sparse, tmp_path):
    run = train(sparse, rule_data(tmp_path / "rule"), "model.tie_output=false", "trainer.max_epochs=2").run_dir
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), framework="pt") as weights:
        assert weights.get_slice("output").get_shape() == [N_ITEMS, 16]


def test_sampled_softmax_masks_a_negative_that_is_the_positive():
    h, weights = torch.zeros(1, 2), torch.zeros(3, 2)
    ctx = losses.LossContext(torch.Generator().manual_seed(0), torch.log(torch.full((3,), 1 / 3)))
    # every draw hits the only item: all masked, the loss is log(1) = 0
    only = losses.SampledSoftmax(negatives=4, sampler=losses.Sampler.popularity)
    assert (
        float(
            only(
                h,
                torch.tensor([1]),
                weights,
                None,
                ctx._replace(log_popularity=torch.log(torch.tensor([0.0, 1.0, 0.0]))),
            )
        )
        == 0.0
    )


def test_sampled_metrics_stay_labelled_beside_full_ranking(sparse, tmp_path):
    run = train(sparse, rule_data(tmp_path / "rule"), "trainer.max_epochs=1", "rank.sampled_negatives=5").run_dir
    results = json.loads((run / "metrics.json").read_text())
    assert "NDCG@10" in results["test"] and not any("sampled" in k for k in results["test"])
    assert set(results["test_sampled"]) >= {"sampled(1+5)/NDCG@10", "sampled(1+5)/HR@10"}


# ------------------------------------------------------------------ bad input


def _atomic(folder: Path, text: str, name: str = "bad.inter") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_a_wrong_header_type_names_file_and_line(sparse, tmp_path, runs):
    folder = _atomic(tmp_path / "d", "user_id:token\titem_id:float\ttimestamp:float\nu1\t7\t1\n")
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=bad.inter", "model=popularity")
    assert result.exit_code == 3
    assert error_line(result).startswith(f"error: {folder / 'bad.inter'}:1: column 'item_id' is item_id:float")
    assert not runs.exists() or not any(runs.rglob("DONE.json"))


def test_a_missing_time_column_names_it(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token\titem_id:token\nu1\ta\n")
    result = sparse(
        "train-rec",
        "data=atomic",
        f"data.path={folder}",
        "data.file=bad.inter",
        "model=popularity",
        "data.columns.time=[ts]",
    )
    assert result.exit_code == 3
    assert error_line(result) == (
        f"error: {folder / 'bad.inter'}:1: no time column 'ts' (columns: user_id, item_id); name the time column(s) "
        "with data.columns.time=[...], or [auto] for timestamp or file order"
    )


def test_metadata_for_an_unknown_item_names_its_line(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token\titem_id:token\nu1\ta\nu1\tb\nu1\tc\n", "toy.inter")
    (folder / "toy.item").write_text("item_id:token\tgenre:token_seq\na\tx y\nzz\tq\n")
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=toy.inter", "model=popularity")
    assert result.exit_code == 3
    assert error_line(result) == (
        f"error: {folder / 'toy.item'}:3: item 'zz' has metadata but no interaction; check the item id column, "
        "or pass data.unknown_meta_items=drop for a larger catalog"
    )


def test_two_metadata_rows_for_one_item_that_disagree_name_the_second(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token\titem_id:token\nu1\ta\nu1\tb\nu1\tc\n", "toy.inter")
    args = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=toy.inter", "model=popularity")
    (folder / "toy.item").write_text("item_id:token\tgenre:token_seq\na\tx y\nb\tq\na\tx y\n")
    assert sparse(*args).exit_code == 0  # the same row twice says nothing new
    (folder / "toy.item").write_text("item_id:token\tgenre:token_seq\na\tx y\nb\tq\na\tx\n")
    result = sparse(*args)
    assert result.exit_code == 3
    assert error_line(result) == (
        f"error: {folder / 'toy.item'}:4: item 'a' has a second metadata row, with another genre than line 2; "
        "keep one row per item"
    )


def test_metadata_files_break_test_cases(sparse, tmp_path):
    """An empty float repeated is the same row; a CSV's line numbers count blank lines and
    quoted line breaks; a field in both the .item and the CSV is refused; the .item beside a
    gzipped .inter is read."""
    import gzip

    inter = "user_id:token\titem_id:token\nu1\ta\nu1\tb\nu1\tc\n"
    folder = _atomic(tmp_path / "d", inter, "toy.inter")
    args = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=toy.inter", "model=popularity")
    (folder / "toy.item").write_text("item_id:token\tprice:float\na\t\nb\t1\na\t\n")
    assert sparse(*args).exit_code == 0
    (folder / "toy.item").unlink()
    (folder / "meta.csv").write_text('item_id,genre\n\na,"x\ny"\n  \nb,q\na,z\n')
    result = sparse(*args, "data.item_meta.file=meta.csv")
    assert error_line(result) == (
        f"error: {folder / 'meta.csv'}:7: item 'a' has a second metadata row, with another genre than line 3; "
        "keep one row per item"
    )
    (folder / "meta.csv").write_text("item_id,genre\na,x\n")
    (folder / "toy.item").write_text("item_id:token\tgenre:token\na\tx\nb\ty\nc\tz\n")
    assert error_line(sparse(*args, "data.item_meta.file=meta.csv")) == (
        f"error: {folder / 'meta.csv'}:1: metadata field 'genre' is also in toy.item; rename one of the two "
        "columns, or leave it out with data.item_meta.fields=[...]"
    )
    assert sparse(*args, "data.item_meta.file=toy.item", "data.item_meta.fields=[genre]").exit_code == 0
    assert error_line(sparse(*args, "data.item_meta.file=toy.item", "data.item_meta.fields=[genre,genre]")) == (
        "error: data.item_meta.fields: names 'genre' twice; name each column once"
    )
    (folder / "toy.inter").unlink()
    with gzip.open(folder / "toy.inter.gz", "wt") as handle:
        handle.write(inter)
    gz = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=toy.inter.gz", "model=popularity")
    assert gz.exit_code == 0 and set(json.loads((gz.run_dir / "DONE.json").read_text())["inputs"]["data"]) == {
        "toy.inter.gz",
        "toy.item",
    }
    import subprocess
    import sys

    from conftest import ROOT

    grouped = subprocess.run([sys.executable, str(ROOT / "scripts" / "ties.py"), str(gz.run_dir), "--group-by", "genre"],
                             capture_output=True, text=True)  # fmt: skip
    assert grouped.returncode == 3 and grouped.stderr == (
        "error: --group-by: the run's model (popularity) does not score items as a softmax's logits; "
        "group a run trained with loss=ce or loss=sampled_softmax\n"
    )


def test_a_ragged_row_names_its_line(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token\titem_id:token\ttimestamp:float\nu1\ta\t1\nu1\tb\n")
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=bad.inter", "model=popularity")
    assert error_line(result).startswith(f"error: {folder / 'bad.inter'}:3: 2 tab-separated fields, the header has 3")


def test_a_repeated_column_and_missing_paths_name_their_setting(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token\tuser_id:token\ttimestamp:float\nu1\ta\t1\n")
    atomic = ("train-rec", "data=atomic", "model=popularity")
    repeated = sparse(*atomic, f"data.path={folder}", "data.file=bad.inter")
    assert error_line(repeated) == (
        f"error: {folder / 'bad.inter'}:1: header field 'user_id' appears twice; give each column its own name"
    )
    assert error_line(sparse(*atomic, f"data.path={folder}", "data.file=nope.inter")) == (
        f"error: data.file: {folder / 'nope.inter'} not found; name a file in {folder}"
    )
    assert error_line(sparse(*atomic, f"data.path={tmp_path / 'no.inter'}")) == (
        f"error: data.path: {tmp_path / 'no.inter'} does not exist; point data.path at the folder holding the "
        "files of data=atomic (or at the file itself)"
    )
    assert error_line(sparse("train-rec", "data=ml-100k", "model=popularity", f"data_root={tmp_path}")) == (
        f"error: data_root: {tmp_path / 'rec' / 'ml-100k'} does not exist; pass data_root=<folder holding "
        "rec/ml-100k> (or SPARSECLI_DATA_ROOT)"
    )


def test_short_users_are_counted_not_fatal(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token\titem_id:token\nu1\ta\nu1\tb\nu1\tc\nu2\ta\n")
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=bad.inter", "model=popularity")
    assert result.exit_code == 0, result.stderr
    assert "not evaluated: 1 (fewer than 3 interactions (train only))" in result.stderr


def test_the_device_path_ranks_as_the_cpu_kernel():
    scores, targets = _fixed_matrix(True)
    scores[3, 10] = -0.0
    scores[3, 11] = 0.0  # -0.0 and 0.0 tie
    history = Sequences(
        np.arange(51, dtype=np.int64) // 10 * 0 + np.arange(51) // 2 * 2, np.arange(50, dtype=np.int32) % 300, None
    )
    targets = targets._replace(inputs=history)
    for mask in (False, True):
        config = ranking.RankingConfig(mask_history=mask, ks=[10], top=30)
        cpu = ranking.full_ranking(
            Scorer(lambda s, rows: scores[rows].clone()), targets, 300, config, torch.device("cpu")
        )
        device = ranking.full_ranking(
            Scorer(lambda s, rows: scores[rows].clone()), targets, 300, config, torch.device("cpu"), kernel=False
        )
        assert (cpu.ranks == device.ranks).all() and (cpu.items == device.items).all()
        assert cpu.masked_targets == device.masked_targets


def test_a_factored_model_ranks_as_its_score_matrix_on_any_thread_count():
    rng = np.random.default_rng(1)
    users, weights, bias = (
        torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in ((50, 8), (300, 8), 300)
    )
    _, targets = _fixed_matrix(False)
    history = Sequences(np.arange(51, dtype=np.int64) // 2 * 2, np.arange(50, dtype=np.int32) * 7 % 300, None)
    targets = targets._replace(inputs=history)
    factored = Scorer(lambda s, rows: users[rows], weights, bias)
    scores = factored.scores(history, np.arange(50))
    config = ranking.RankingConfig(ks=[10], top=20, batch_size=7)
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            runs.append(ranking.full_ranking(factored, targets, 300, config, torch.device("cpu")))
    finally:
        torch.set_num_threads(threads)
    device = ranking.full_ranking(
        Scorer(lambda s, rows: scores[rows]), targets, 300, config, torch.device("cpu"), kernel=False
    )
    for ranked in runs:
        assert (ranked.ranks == device.ranks).all() and (ranked.items == device.items).all()
        np.testing.assert_allclose(ranked.scores, device.scores, rtol=1e-5)
    assert runs[0].scores.tobytes() == runs[1].scores.tobytes()
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize(
    "args, where, what",
    [
        (["trainer.monitor=coverage@10"], "trainer.monitor", "'coverage@10' is not a validation metric here"),
        (["rank.sampled_negatives=100"], "rank.sampled_negatives", "cannot sample 100 negatives from 19 other items"),
        (["data.columns.session=user_id"], "data.columns.session", "sessions are read from tables"),
        (["model.heads=0"], "model.heads", "must be >= 1, got 0"),
    ],
)
def test_settings_that_cannot_work_are_one_line(sparse, tmp_path, args, where, what):
    result = sparse(
        "train-rec",
        "data=atomic",
        f"data.path={rule_data(tmp_path / 'rule')}",
        "data.file=rule.inter",
        "model=sasrec",
        *args,
    )
    assert result.exit_code == 2
    assert error_line(result).startswith(f"error: {where}: {what}")


def test_ids_with_spaces_and_gaps_in_time_are_refused_before_training(sparse, tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "s.csv").write_text("u,i,t\nu1,a b,1\nu1,c,2\nu1,d,3\n")
    spaced = sparse(
        "train-rec",
        "data=interactions",
        f"data.path={folder / 's.csv'}",
        "data.columns.user=u",
        "data.columns.item=i",
        "data.columns.time=[t]",
        "model=popularity",
    )
    assert spaced.exit_code == 3 and "item id 'a b' is empty or holds whitespace" in error_line(spaced)
    (folder / "g.csv").write_text("u,i,t\nu1,a,1\nu1,c,\nu1,d,3\n")
    gap = sparse(
        "train-rec",
        "data=interactions",
        f"data.path={folder / 'g.csv'}",
        "data.columns.user=u",
        "data.columns.item=i",
        "data.columns.time=[t]",
        "model=popularity",
    )
    assert error_line(gap).startswith(f"error: {folder / 'g.csv'}:3: time column 't' holds '' among numbers")
    (folder / "h.csv").write_text("u,i,t\n")
    empty = sparse(
        "train-rec",
        "data=interactions",
        f"data.path={folder / 'h.csv'}",
        "data.columns.user=u",
        "data.columns.item=i",
        "model=popularity",
    )
    assert error_line(empty) == f"error: {folder / 'h.csv'}: no interactions; give at least one row after the header"


def test_a_csv_table_and_a_hugging_face_folder_read_alike(tmp_path):
    import datasets

    from sparsecli.recommend.data import load
    from sparsecli.recommend.data.config import ColumnsConfig, RecDataConfig, RecFormat

    rows = {
        "user": ["u1"] * 4 + ["u2"] * 3,
        "item": ["a", "b", "c", "d", "b", "c", "e"],
        "ts": ["1", "2", "3", "4", "1", "2", "3"],
    }
    (tmp_path / "t.csv").write_text("user,item,ts\n" + "".join(f"{u},{i},{t}\n" for u, i, t in zip(*rows.values())))
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "hf"))
    columns = ColumnsConfig(user="user", item="item", time=["ts"])
    table = load(RecDataConfig(name="t", format=RecFormat.table, path=str(tmp_path / "t.csv"), columns=columns), None)
    hub = load(RecDataConfig(name="h", format=RecFormat.hf, path=str(tmp_path / "hf"), columns=columns), None)
    for ds in (table, hub):
        assert ds.items == ["a", "b", "c", "d", "e"]
        assert [ds.items[t] for t in ds.split.test.targets] == ["d", "e"]


def test_an_option_name_that_disagrees_with_the_option_is_refused(sparse, tmp_path):
    folder = rule_data(tmp_path / "rule")
    for override in ("model.name=ease", "loss.name=bpr"):
        result = sparse(
            "train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", "model=sasrec", override
        )
        group = override.split(".")[0]
        assert error_line(result) == (
            f"error: {group}.name: {override} does not name the chosen {group}; choose the {group} with "
            f"{group}=<option> and leave {group}.name alone"
        )


def test_files_given_directly_and_tab_separated_tables_are_read(tmp_path):
    from sparsecli.recommend.data import load
    from sparsecli.recommend.data.config import ColumnsConfig, RecDataConfig, RecFormat

    folder = rule_data(tmp_path / "rule")
    by_file = load(RecDataConfig(name="f", path=str(folder / "rule.inter")), None)
    by_folder = load(RecDataConfig(name="f", path=str(folder), file="rule.inter"), None)
    assert by_file.items == by_folder.items and (by_file.split.test.targets == by_folder.split.test.targets).all()
    (tmp_path / "t.tsv").write_text("u\ti\tt\nu1\ta\t1\nu1\tb\t2\nu1\tc\t3\n")
    columns = ColumnsConfig(user="u", item="i", time=["t"])
    assert load(
        RecDataConfig(name="t", format=RecFormat.table, path=str(tmp_path / "t.tsv"), columns=columns), None
    ).items == ["a", "b", "c"]


def test_comma_separated_atomic_files_and_a_single_item_are_named(sparse, tmp_path):
    folder = _atomic(tmp_path / "d", "user_id:token,item_id:token\nu1,a\n")
    comma = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=bad.inter", "model=popularity")
    assert error_line(comma).startswith(
        f"error: {folder / 'bad.inter'}:1: the header has no tab: atomic files are tab-separated"
    )
    one = _atomic(tmp_path / "e", "user_id:token\titem_id:token\nu1\ta\nu1\ta\nu1\ta\n")
    single = sparse("train-rec", "data=atomic", f"data.path={one}", "data.file=bad.inter", "model=popularity")
    assert error_line(single).startswith(f"error: {one / 'bad.inter'}: 1 item left: nothing to rank")


def test_eval_of_an_interrupted_train_rec_run_names_train_rec(sparse, tmp_path):
    run = tmp_path / "runs" / "train-rec" / "0123456789abcdef"
    run.mkdir(parents=True)
    (run / "meta.json").write_text('{"command": "train-rec"}')
    result = sparse("eval", f"search_run={run}", "eval=rec")
    assert "rerun the `sparse train-rec ...` that created it" in error_line(result)


def test_slices_split_users_by_their_targets_training_count_and_history():
    ranked = ranking.Ranked(
        np.array([1, 0, 3, 2]), np.zeros((4, 1), np.int32), np.zeros((4, 1), np.float32), 0
    )  # ranks: hit at 1, masked, 3, 2
    inputs = Sequences(np.array([0, 2, 4, 30, 31]), np.zeros(31, np.int32), None)
    targets = Targets(np.arange(4, dtype=np.int32), np.array([0, 1, 2, 3], np.int32), inputs)
    counts = np.array([0, 0, 5, 9])  # items 0 and 1 unseen in training, item 2 cold
    out = ranking.report(ranked, targets, counts, ranking.RankingConfig(ks=[1, 5]))
    unseen = out["slices"]["unseen_target(0)"]
    assert unseen["users"] == 2 and unseen["HR@1"] == 0.5 and unseen["HR@5"] == 0.5
    cold = out["slices"]["cold_target(<=5)"]
    assert cold["users"] == 3 and cold["HR@5"] == 2 / 3 and cold["HR@1"] == 1 / 3
    assert out["slices"]["long_history(>=20)"]["users"] == 1 and out["slices"]["long_history(>=20)"]["HR@1"] == 0.0
