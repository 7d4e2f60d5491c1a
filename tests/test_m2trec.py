"""M2TRec (model=m2trec) on the tiny next-item rule with item metadata: it learns the rule
with no per-item parameter, an item unseen in training but made of a seen item's metadata is
scored as that item, and a saved model reloads (init=) to the same ranks."""

from __future__ import annotations

import json

import pytest
import torch

from test_rec import N_ITEMS, SMALL, rule_data

M2TREC = ["model=m2trec", "model.heads=1", "model.fields=[cat,shelf]", "model.category_fields=[shelf]"]
ARGS = [a for a in SMALL if not a.startswith("model=")] + M2TREC


def with_metadata(folder):
    """The rule data, plus a user whose last item, i20, is unseen in training and has the same
    metadata as i5 (which the rule puts after i4), and an .item file: cat = the item itself
    (i20: c5), shelf = cat mod 4."""
    rule_data(folder)
    with open(folder / "rule.inter", "a") as handle:
        handle.write("".join(f"x\ti{i}\t{2000 + t}\n" for t, i in enumerate([1, 2, 3, 4, 20])))
    twin = {N_ITEMS: 5}  # i20 is made of what i5 is made of
    rows = [f"i{i}\tc{twin.get(i, i)}\ts{twin.get(i, i) % 4}" for i in range(N_ITEMS + 1)]
    (folder / "rule.item").write_text("item_id:token\tcat:token\tshelf:token\n" + "\n".join(rows) + "\n")
    return folder


def run(sparse, folder, *extra):
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *ARGS, *extra)
    assert result.exit_code == 0, result.stderr
    return result.run_dir


def test_m2trec_learns_the_rule_and_scores_an_unseen_twin_as_the_seen_item(sparse, tmp_path):
    folder = with_metadata(tmp_path / "rule")
    trained = run(sparse, folder)
    results = json.loads((trained / "metrics.json").read_text())
    # every target ranks first, or second behind its twin where it is i5 or i20: the twins'
    # vectors are bit-identical, their scores equal up to the product's rounding by column
    users: dict = {}
    for line in (folder / "rule.inter").read_text().splitlines()[1:]:
        users.setdefault(line.split("\t")[0], []).append(line.split("\t")[1])
    for split, position in (("valid", -2), ("test", -1)):
        twins = sum(items[position] in ("i5", "i20") for items in users.values())
        assert twins > 0 and results[split]["HR@5"] == 1.0
        assert results[split]["MRR@10"] >= (len(users) - twins / 2) / len(users) - 1e-12
    unseen = results["test"]["slices"]["unseen_target(0)"]
    assert unseen["users"] == 1 and unseen["MRR@10"] in (0.5, 1.0)  # i20, never trained on, ranked as i5
    from sparsecli.recommend import saved

    vectors = saved.load(str(trained), "init").model.output_weights()[0]
    number = {token: n for n, token in enumerate(saved.items(str(trained)))}
    five, twenty, four = (vectors[number[t]] for t in ("i5", "i20", "i4"))
    assert torch.equal(five, twenty) and not torch.equal(five, four)
    info = json.loads((trained / "model.json").read_text())
    assert info["features"] == {"cat": {"vocab": 21, "width": 1, "multi": False},  # 20 values and none
                                "shelf": {"vocab": 5, "width": 1, "multi": False}}  # fmt: skip
    # a saved model reloads through its recorded tables and ranks the same
    again = run(sparse, folder, f"init={trained}", "trainer.max_epochs=0")
    assert (again / "test/run.trec.gz").read_bytes() == (trained / "test/run.trec.gz").read_bytes()


def test_same_seed_same_bytes(sparse, tmp_path):
    folder = with_metadata(tmp_path / "rule")
    args = ("trainer.max_epochs=3", "model.dropout=0.3")  # dropout and shuffling draw from the seed
    first, second = (run(sparse, folder, *args, f"runs_root={tmp_path / root}") for root in ("a", "b"))
    for name in ("model.safetensors", "model.json", "test/run.trec.gz", "valid/run.trec.gz", "metrics.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_item_vectors_come_from_metadata_only():
    import numpy as np
    import torch

    from sparsecli.recommend.models.config import M2TRecConfig
    from sparsecli.recommend.models.features import encode

    meta = {"cat": ["a", "b", "a", None], "tags": [["x", "y"], ["y"], ["x", "y"], []]}
    features = encode(meta, [], 4)
    assert features.names == ["cat", "tags"] and features.vocab == [3, 3] and features.multi == [False, True]
    assert np.array_equal(features.tables[1], [[1, 2], [2, 0], [1, 2], [0, 0]])
    torch.manual_seed(0)
    model = M2TRecConfig(dim=16, heads=1, layers=1, category_fields=["tags"]).build(4, features).eval()
    vectors = model.output_weights()[0]
    assert torch.equal(vectors[0], vectors[2]) and not torch.equal(vectors[0], vectors[1])
    # no parameter grows with the catalogue: the same settings over 4 items or 400
    bigger = encode({k: v * 100 for k, v in meta.items()}, [], 400)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(M2TRecConfig(dim=16, heads=1, layers=1).build(400, bigger)) == count(
        M2TRecConfig(dim=16, heads=1, layers=1).build(4, features)
    )


def test_a_category_path_becomes_one_field_per_level():
    from sparsecli.recommend.data.read import path_levels

    meta = {"path": ["Beauty > Skin > Face", "Beauty>Makeup>Face", "Tools", None], "cat": ["a", "b", "c", "d"]}
    levels = path_levels(meta, ["path"], ">")
    assert levels["path@1"] == ["Beauty", "Beauty", "Tools", None]
    assert levels["path@2"] == ["Beauty>Skin", "Beauty>Makeup", None, None]
    assert levels["path@3"] == ["Beauty>Skin>Face", "Beauty>Makeup>Face", None, None]  # two different Faces
    assert set(levels) == {"path", "cat", "path@1", "path@2", "path@3"}
    assert path_levels({"g": [["x", "y"], ["x"]]}, ["g"], ">")["g@2"] == ["x>y", None]  # a token_seq's order


def test_m2trec_trains_a_head_per_path_level(sparse, tmp_path):
    folder = with_metadata(tmp_path / "rule")
    item = folder / "rule.item"
    lines = item.read_text().splitlines()  # shelf > cat as a path: i20 still i5's twin
    rows = [f"{r}\t{r.split(chr(9))[2]}>{r.split(chr(9))[1]}" for r in lines[1:]]
    item.write_text("\n".join([lines[0] + "\tpath:token", *rows]) + "\n")
    trained = run(
        sparse, folder, "data.item_meta.paths=[path]", "model.fields=[path@1,path@2]",
        "model.category_fields=[path@1,path@2]", "trainer.max_epochs=60",
    )  # fmt: skip
    results = json.loads((trained / "metrics.json").read_text())
    assert results["test"]["HR@5"] == 1.0
    assert results["test"]["slices"]["unseen_target(0)"]["MRR@10"] in (0.5, 1.0)
    info = json.loads((trained / "model.json").read_text())["features"]
    assert {name: spec["vocab"] for name, spec in info.items()} == {"path@1": 5, "path@2": 21}


def test_a_path_field_that_is_not_there_is_one_line(sparse, tmp_path):
    from conftest import error_line

    folder = with_metadata(tmp_path / "rule")
    result = sparse(
        "train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *ARGS, "data.item_meta.paths=[nope]"
    )
    assert result.exit_code != 0 and error_line(result).startswith("error: data.item_meta.paths"), error_line(result)


@pytest.mark.parametrize(
    "extra,where",
    [
        (["model.fields=[nope]", "model.category_fields=[]"], "model.fields"),
        (["model.category_fields=[cat]", "model.fields=[shelf]"], "model.category_fields"),
        (["model.pool=max"], "model.pool"),
        (["model.fields=[cat,cat]", "model.category_fields=[]"], "model.fields"),
        (["model.category_fields=[shelf,shelf]"], "model.category_fields"),
    ],
)
def test_metadata_settings_that_cannot_work_are_one_line(sparse, tmp_path, extra, where):
    from conftest import error_line

    folder = with_metadata(tmp_path / "rule")
    result = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *ARGS, *extra)
    assert result.exit_code != 0 and error_line(result).startswith(f"error: {where}"), error_line(result)


def test_mean_pooling_is_the_running_mean_over_real_positions():
    from sparsecli.recommend.models.m2trec import running_mean

    states = torch.tensor([[[9.0], [1.0], [3.0], [8.0]], [[2.0], [4.0], [6.0], [1.0]]])
    real = torch.tensor([[False, True, True, True], [True, True, True, True]])
    assert running_mean(states, real)[..., 0].tolist() == [[0.0, 1.0, 2.0, 4.0], [2.0, 3.0, 4.0, 3.25]]


@pytest.mark.parametrize("pool", ["mean", "last"])
def test_a_user_is_scored_from_what_the_losses_saw_at_the_last_position(pool):
    """Ranking takes the session vector through user_vectors (eval, trimmed to the longest
    history); it must be the training path's last position at full width, for histories of one
    item, shorter than max_len and longer (cut to the last max_len)."""
    import numpy as np

    from sparsecli.recommend.data.types import Sequences
    from sparsecli.recommend.models.base import left_padded
    from sparsecli.recommend.models.config import M2TRecConfig
    from sparsecli.recommend.models.features import encode

    features = encode({"cat": ["a", "b", "c", "a", "b", "d"]}, [], 6)
    torch.manual_seed(0)
    model = M2TRecConfig(dim=16, heads=1, layers=2, max_len=6, dropout=0.0, pool=pool).build(6, features)
    histories = [[3], [0, 4, 2], [5, 1, 0, 2, 3, 4, 1, 5, 2]]
    seqs = Sequences(np.cumsum([0] + [len(h) for h in histories]), np.concatenate(histories).astype(np.int32), None)
    rows = np.arange(3)
    with torch.no_grad():
        trained = model.train().hidden(left_padded(seqs, rows, 6))[:, -1]
        scored = model.eval().user_vectors(seqs, rows)
        for only in rows:  # a batch of one is trimmed to its own length
            assert torch.allclose(model.user_vectors(seqs, rows[only : only + 1])[0], trained[only], atol=1e-6)
    assert torch.allclose(scored, trained, atol=1e-6)
    if pool == "mean":  # the one-item history's session vector is that item's own encoding
        with torch.no_grad():
            assert torch.allclose(trained[0], model.encoder(torch.tensor([[4]]))[0, 0], atol=1e-6)


def test_a_mean_pooled_model_reloads_and_ranks_the_same(sparse, tmp_path):
    from conftest import error_line

    folder = with_metadata(tmp_path / "rule")
    trained = run(sparse, folder, "model.pool=mean", "trainer.max_epochs=3")
    assert json.loads((trained / "model.json").read_text())["model"]["pool"] == "mean"
    again = run(sparse, folder, "model.pool=mean", f"init={trained}", "trainer.max_epochs=0")
    assert (again / "test/run.trec.gz").read_bytes() == (trained / "test/run.trec.gz").read_bytes()
    refused = sparse(
        "train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *ARGS, f"init={trained}"
    )
    assert error_line(refused).startswith("error: init"), error_line(refused)  # trained with mean, not the default
    assert "model.pool=mean there, last here" in error_line(refused)
    other = sparse("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *SMALL, f"init={trained}")
    assert "model.name=m2trec there, sasrec here" in error_line(other), error_line(other)
    assert "INFO" not in refused.stderr  # refused before the data is read


@pytest.mark.parametrize("pool", ["last", "mean"])
def test_items_made_of_the_same_metadata_tie_exactly_in_the_evaluator(sparse, tmp_path, pool):
    """Every item made of one value: every score ties, so every target ranks last (pessimistic
    ties) and every figure is exactly 0. A product over repeated rows used to round them apart."""
    folder = rule_data(tmp_path / "same")
    rows = [f"i{i}\tx\ts0" for i in range(N_ITEMS)]
    (folder / "rule.item").write_text("item_id:token\tcat:token\tshelf:token\n" + "\n".join(rows) + "\n")
    trained = run(
        sparse, folder, f"model.pool={pool}", "model.dim=64", "trainer.max_epochs=2", "rank.mask_history=false"
    )
    results = json.loads((trained / "metrics.json").read_text())
    for split in ("valid", "test"):
        assert results[split]["HR@10"] == 0.0 and results[split]["NDCG@10"] == 0.0
        last = pytest.approx(1 / N_ITEMS, abs=1e-15)  # the target ranks 20th of 20
        assert results[split]["HR@20"] == 1.0 and results[split]["MRR@20"] == last
    if pool == "last":  # scripts/ties.py rescores the run as the evaluator does, under each tie rule
        import math
        import subprocess
        import sys

        from conftest import ROOT

        out = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "ties.py"), str(trained), "--k", "20"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        at = lambda rank: 1 / math.log2(rank + 1)  # noqa: E731
        expected = sum(at(r) for r in range(1, N_ITEMS + 1)) / N_ITEMS
        assert out[0].endswith("mean tie group 20.00")
        assert out[1].split() == ["pessimistic", "NDCG@20", f"{at(20):.4f}", "HR@20", "1.0000"]
        assert out[2].split() == ["expected", "NDCG@20", f"{expected:.4f}", "HR@20", "1.0000"]
        assert out[3].split() == ["optimistic", "NDCG@20", "1.0000", "HR@20", "1.0000"]
        with open(folder / "rule.inter", "a") as handle:  # the data changed since the run
            handle.write("late\ti1\t9999\n")
        changed = subprocess.run([sys.executable, str(ROOT / "scripts" / "ties.py"), str(trained)], capture_output=True,
                                 text=True)  # fmt: skip
        assert changed.returncode == 3 and changed.stderr == (
            f"error: --data-path: {folder / 'rule.inter'} differs from the file the run read; "
            "pass --data-path <the data the run read>\n"
        )
        (folder / "rule.inter").write_text((folder / "rule.inter").read_text().replace("late\ti1\t9999\n", ""))
        (folder / "rule.item").unlink()  # a file the run read is gone
        gone = subprocess.run([sys.executable, str(ROOT / "scripts" / "ties.py"), str(trained)], capture_output=True,
                              text=True)  # fmt: skip
        assert gone.stderr == "error: --data-path: rule.item is gone; pass --data-path <the data the run read>\n"
        moved = tmp_path / "moved"
        folder.rename(moved)
        (moved / "rule.item").write_text("item_id:token\tcat:token\tshelf:token\n" + "\n".join(rows) + "\n")
        again = subprocess.run([sys.executable, str(ROOT / "scripts" / "ties.py"), str(trained), "--k", "20",
                                "--data-path", str(moved)], capture_output=True, text=True)  # fmt: skip
        assert again.stdout.splitlines()[1:] == out[1:], again.stderr


def test_item_metadata_that_makes_no_item_vector_is_one_line(sparse, tmp_path):
    """A float field would make every distinct number a token (an item ID in disguise), and a
    .item file holding only its id column gives no field to build items from."""
    from conftest import error_line

    folder = with_metadata(tmp_path / "rule")
    rows = [f"i{i}\t{i / 3:.3f}" for i in range(N_ITEMS + 1)]
    (folder / "rule.item").write_text("item_id:token\tprice:float\n" + "\n".join(rows) + "\n")
    args = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *ARGS)
    left_out = sparse(*args, "model.fields=[]", "model.category_fields=[]", "trainer.max_epochs=1")
    assert left_out.exit_code == 2 and "item metadata: price hold numbers, left out" in left_out.stderr
    price = sparse(*args, "model.fields=[price]", "model.category_fields=[]")
    assert error_line(price) == (
        "error: model.fields: metadata field 'price' holds numbers (float, float_seq); items are made of tokens; "
        "leave it out (name the token fields in model.fields=[...]), or declare it a token when it is a category"
    )
    (folder / "rule.item").write_text("item_id:token\tcat:token\n" + "".join(f"i{i}\t\n" for i in range(N_ITEMS + 1)))
    empty = sparse(*args, "model.fields=[cat]", "model.category_fields=[]")
    assert error_line(empty) == (
        "error: model.fields: metadata field 'cat' has no value for any item; fill it in the metadata file, "
        "or leave it out of model.fields=[...]"
    )
    (folder / "rule.item").write_text("item_id:token\n" + "".join(f"i{i}\n" for i in range(N_ITEMS + 1)))
    bare = sparse(*args, "model.fields=[]", "model.category_fields=[]")
    assert error_line(bare).startswith("error: data: the data has no item metadata fields (a .item file with only")


def test_an_atomic_item_file_named_as_the_metadata_file_is_read_as_atomic(sparse, tmp_path):
    """data.item_meta.file=<x>.item reads RecBole's typed header, whatever data.item_meta.sep is,
    with data.item_meta.item and .fields, and ranks exactly as the same file beside the .inter."""
    from conftest import error_line

    folder = with_metadata(tmp_path / "rule")
    beside = run(sparse, folder)
    text = (folder / "rule.item").read_text()
    (folder / "rule.item").unlink()
    (folder / "meta.item").write_text(text.replace("item_id:token", "iid:token").replace("\n", "\tx\n")
                                      .replace("shelf:token\tx", "shelf:token\tprice:float"))  # fmt: skip
    named = run(sparse, folder, "data.item_meta.file=meta.item", "data.item_meta.item=iid",
                "data.item_meta.fields=[cat,shelf]")  # fmt: skip
    assert (named / "metrics.json").read_bytes() == (beside / "metrics.json").read_bytes()
    args = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *ARGS)
    wrong = sparse(*args, "data.item_meta.file=meta.item", "data.item_meta.item=iid", "data.item_meta.fields=[cat,no]")
    assert error_line(wrong) == (
        f"error: {folder / 'meta.item'}:1: no column 'no' (columns: iid, cat, shelf, price); fix data.item_meta.fields"
    )
