"""The train-rec cases of ../shared/cases/rec (real reports and documented pitfalls), each
with the values its README and expected.json give.

Conventions chosen where a case offers two: ties count against the target (pessimistic);
short users under leave-one-out follow SASRec (policy A: train only, not evaluated).
"""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SHARED_DATA
from sparsecli.recommend import metrics, ranking
from sparsecli.recommend.data import filters, load, read
from sparsecli.recommend.data.config import Dedup, RecDataConfig, RecFormat
from sparsecli.recommend.data.split import sequences
from sparsecli.recommend.data.types import Sequences, Targets
from sparsecli.recommend.models.base import Scorer

CASES = SHARED_DATA.parent / "cases" / "rec"


def case(name: str) -> Path:
    folder = CASES / name
    if not folder.is_dir():
        pytest.skip(f"shared case not found at {folder}")
    return folder


def expected(name: str) -> dict:
    return json.loads((case(name) / "expected.json").read_text())


def scores_and_targets(name: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    folder = case(name)
    spec = json.loads((folder / "targets.json").read_text())
    targets = [spec["targets"][str(u)] for u in range(len(spec["targets"]))]
    return torch.from_numpy(np.load(folder / "scores.npy")), torch.tensor(targets), spec["k"]


def at_k(ranks, k: int) -> dict:
    values = metrics.means(metrics.per_user(np.asarray(ranks), [k]))
    return {"hr": values[f"HR@{k}"], "ndcg": values[f"NDCG@{k}"], "mrr": values[f"MRR@{k}"]}


# ------------------------------------------------------------------ evaluation


def test_ties_count_against_the_target_so_a_constant_model_scores_nothing():
    scores, targets, k = scores_and_targets("eval_ties_constant_score")
    want = expected("eval_ties_constant_score")
    ranks = metrics.pessimistic_ranks(scores, targets).tolist()
    assert ranks == [want["per_user"][str(u)]["rank_pessimistic"] for u in range(4)] == [20, 20, 13, 4]
    assert at_k(ranks, k) == pytest.approx(want["metrics@10"]["pessimistic"], abs=1e-12)
    constant = metrics.pessimistic_ranks(torch.full((3, 20), 0.5), torch.tensor([0, 7, 19]))
    assert constant.tolist() == [20, 20, 20]  # HR@k <= k / n_items: here exactly 0


def test_the_written_list_agrees_with_the_pessimistic_rank_whatever_the_item_numbers():
    scores, targets, _ = scores_and_targets("eval_ties_constant_score")
    items, _ = ranking.top_lists(scores, targets, 20)
    ranks = metrics.pessimistic_ranks(scores, targets)
    for row in range(4):
        assert items[row].tolist().index(int(targets[row])) + 1 == int(ranks[row])
    # the index-order answer (target first among its ties) must not come back
    assert items[0].tolist()[-1] == 0 and items[1].tolist()[-1] == 7


def test_metric_definitions_at_the_boundary_k():
    scores, targets, k = scores_and_targets("eval_metric_definitions")
    want = expected("eval_metric_definitions")["correct"]
    ranks = metrics.pessimistic_ranks(scores, targets).tolist()
    assert ranks == want["ranks"] == [1, 2, 3, 10, 11, 50]
    got = metrics.means(metrics.per_user(np.asarray(ranks), [k]))
    assert got["HR@10"] == pytest.approx(want["hr@10"], abs=1e-12)
    assert got["Recall@10"] == got["HR@10"]
    assert got["NDCG@10"] == pytest.approx(want["ndcg@10"], abs=1e-12)
    assert got["MRR@10"] == pytest.approx(want["mrr@10"], abs=1e-12)  # ranks > k contribute 0


def test_sampled_metrics_are_labelled_and_match_the_hand_computed_case():
    scores, targets, k = scores_and_targets("eval_sampled_vs_full")
    want = expected("eval_sampled_vs_full")
    negatives = torch.from_numpy(np.load(case("eval_sampled_vs_full") / "sampled_negatives.npy")).long()
    full = metrics.pessimistic_ranks(scores, targets).tolist()
    sampled = metrics.sampled_ranks(scores, targets, negatives).tolist()
    assert full == [want["full"]["rank_per_user"][str(u)] for u in range(3)] == [15, 60, 3]
    assert sampled == [want["sampled_1plus20"]["rank_per_user"][str(u)] for u in range(3)] == [2, 5, 1]
    assert at_k(full, k)["ndcg"] == pytest.approx(1 / 6, abs=1e-12)
    assert at_k(sampled, k) == pytest.approx(
        {key: want["sampled_1plus20"][f"{key}@10"] for key in ("hr", "ndcg", "mrr")}
    )


def test_sampled_negatives_are_seeded_and_never_the_target():
    targets = np.array([0, 5, 9, 3])
    a = metrics.sample_negatives(targets, 10, 9, seed=1)
    assert (a == metrics.sample_negatives(targets, 10, 9, seed=1)).all()
    for row, target in enumerate(targets):  # all 9 other items, each once
        assert sorted(a[row].tolist()) == [i for i in range(10) if i != target]


def _history_case():
    spec = json.loads((case("eval_history_mask_repeat_target") / "case.json").read_text())
    index = {name: i for i, name in enumerate(spec["items"])}
    users = list(spec["users"])
    histories = [[index[i] for i in spec["users"][u]["history"]] for u in users]
    indptr = np.concatenate([[0], np.cumsum([len(h) for h in histories])])
    inputs = Sequences(indptr, np.array(sum(histories, []), dtype=np.int32), None)
    targets = Targets(
        np.arange(4, dtype=np.int32),
        np.array([index[spec["users"][u]["target"]] for u in users], dtype=np.int32),
        inputs,
    )
    scores = torch.tensor([spec["users"][u]["scores"] for u in users])
    return targets, scores, spec["k"], len(spec["items"])


@pytest.mark.parametrize(
    "mask, variant",
    [
        (False, "no_mask (repeatable; correct default for sequential)"),
        (True, "mask_all_history (general-model habit; wrong here)"),
    ],
)
def test_history_mask_removes_the_whole_history_target_included(mask, variant):
    targets, scores, k, n_items = _history_case()
    want = expected("eval_history_mask_repeat_target")["variants"][variant]
    config = ranking.RankingConfig(mask_history=mask, ks=[k], top=5)
    ranked = ranking.full_ranking(
        Scorer(lambda seqs, rows: scores[rows]), targets, n_items, config, torch.device("cpu")
    )
    ranks = [r or None for r in ranked.ranks.tolist()]
    assert ranks == list(want["rank_per_user (null = target masked out)"].values())
    assert at_k(ranked.ranks, k) == pytest.approx({m: want[m] for m in ("hr", "ndcg", "mrr")}, abs=1e-12)
    assert ranked.masked_targets == (2 if mask else 0)  # u1 and u3: reported, never exempted


def test_users_with_their_target_in_their_history_are_counted():
    targets, _, _, _ = _history_case()
    assert ranking.history_hits(targets.inputs, targets.targets).sum() == len(
        expected("eval_history_mask_repeat_target")["users_with_target_in_history"]
    )


# ------------------------------------------------------------------ readers and splits


def _named(ds, rows: Sequences, users=None) -> dict:
    users = range(len(rows.indptr) - 1) if users is None else users
    return {ds.users[u]: [ds.items[i] for i in rows.row(r)] for r, u in enumerate(users)}


def test_recbole_atomic_keeps_tokens_as_strings_and_parses_typed_fields():
    folder = case("reader_recbole_atomic")
    want = expected("reader_recbole_atomic")
    table = read.read(RecDataConfig(name="toy", path=str(folder), file="toy.inter"), None)
    assert table.items == want["item_tokens (strings, order of first appearance)"] == ["007", "7", "0042", "x-9"]
    assert len(table.users) == want["n_users"] and len(table.user) == want["n_rows"]
    assert table.rating.tolist() == want["ratings (float, file order)"]
    for item, features in want["item_features"].items():
        i = table.items.index(item)
        assert table.item_meta["categories"][i] == features["categories"]  # x-9: [], not [""]
        assert table.item_meta["price"][i] == pytest.approx(features["price"])


@pytest.mark.parametrize(
    "dedup, key",
    [
        (Dedup.none, "sequences_keep_all_duplicates (default for sequential)"),
        (Dedup.first, "sequences_dedup_keep_first"),
        (Dedup.last, "sequences_dedup_keep_last"),
    ],
)
def test_recbole_atomic_duplicates_by_policy(dedup, key):
    table = read.read(RecDataConfig(name="toy", path=str(case("reader_recbole_atomic")), file="toy.inter"), None)
    kept = filters.dedup(filters.time_order(table), dedup)
    seqs = sequences(kept)
    got = {kept.users[u]: [kept.items[i] for i in seqs.row(u)] for u in range(len(kept.users))}
    assert got == expected("reader_recbole_atomic")[key]
    if dedup != Dedup.none:  # the rating kept with U01's 007
        rows = [
            r for r in range(len(kept.user)) if kept.users[kept.user[r]] == "U01" and kept.items[kept.item[r]] == "007"
        ]
        assert kept.rating[rows].tolist() == [expected("reader_recbole_atomic")["rating_of_kept_U01_007"][dedup.value]]


def test_recbole_atomic_without_timestamps_keeps_the_file_order(caplog, monkeypatch):
    logger = logging.getLogger("sparsecli")
    monkeypatch.setattr(logger, "handlers", [caplog.handler])  # CLI tests leave theirs behind
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "level", logging.INFO)
    ds = load(RecDataConfig(name="toy", path=str(case("reader_recbole_atomic")), file="toy_notime.inter"), None)
    assert "keep the file order" in caplog.text
    split = ds.split
    assert _named(ds, split.train) == {"U01": ["0042", "007"], "U02": ["7"]}
    assert {ds.users[u]: ds.items[t] for u, t in zip(split.valid.users, split.valid.targets)} == {
        "U01": "7",
        "U02": "x-9",
    }
    assert {ds.users[u]: ds.items[t] for u, t in zip(split.test.users, split.test.targets)} == {
        "U01": "x-9",
        "U02": "007",
    }


def test_p5_lines_split_in_line_order_with_tokens_not_numbers():
    ds = load(RecDataConfig(name="p5", path=str(case("reader_p5_sequential")), format=RecFormat.p5), None)
    want = expected("reader_p5_sequential")
    assert (len(ds.users), len(ds.items), ds.stats["kept"]["interactions"]) == (
        want["n_users"],
        want["n_items"],
        want["n_interactions"],
    )
    split = ds.split
    assert _named(ds, split.train) == {u: v["train"] for u, v in want["split"].items()}
    inputs = _named(ds, split.test.inputs, split.test.users)
    test = {ds.users[u]: (ds.items[t], inputs[ds.users[u]]) for u, t in zip(split.test.users, split.test.targets)}
    assert test == {u: (v["test"], v["test_input"]) for u, v in want["split"].items() if v["test"] is not None}
    assert len(split.test.users) == want["n_evaluated_users"]
    assert test["3"][1] == ["10", "11", "3"]  # neither lexicographic nor numeric order


def test_leave_one_out_short_users_train_only_and_cold_items_stay_in_the_catalogue():
    ds = load(RecDataConfig(name="toy", path=str(case("split_loo_short_users_cold_items")), file="toy.inter"), None)
    want = expected("split_loo_short_users_cold_items")
    policy = want["policy_A_sasrec"]
    split = ds.split
    assert _named(ds, split.train) == {u: v["train"] for u, v in policy.items()}
    valid = {ds.users[u]: ds.items[t] for u, t in zip(split.valid.users, split.valid.targets)}
    assert valid == {u: v["valid"] for u, v in policy.items() if v["evaluated"]}
    test_inputs = _named(ds, split.test.inputs, split.test.users)
    assert test_inputs == {u: v["test_input"] for u, v in policy.items() if v["evaluated"]}
    counts = want["policy_A_counts"]
    assert (len(split.valid.users), len(split.test.users)) == (counts["n_eval_valid"], counts["n_eval_test"])
    assert len(ds.items) == 9  # x5, x7 and x8 never occur in training but are ranked
    assert ds.stats["not_evaluated"] == {"fewer than 3 interactions (train only)": 2}
    # a perfect model hits every evaluated user: HR = 1.0 over 3 users, not 3/5
    scores = torch.zeros(3, 9)
    scores[torch.arange(3), torch.from_numpy(split.test.targets.astype(np.int64))] = 1.0
    ranked = ranking.full_ranking(
        Scorer(lambda s, rows: scores[rows]), split.test, 9, ranking.RankingConfig(ks=[1], top=5), torch.device("cpu")
    )
    assert metrics.means(metrics.per_user(ranked.ranks, [1]))["HR@1"] == 1.0


def test_nothing_from_valid_or_test_reaches_training_statistics():
    from sparsecli.recommend.models.config import PopularityConfig

    ds = load(RecDataConfig(name="toy", path=str(case("split_test_leakage")), file="toy.inter"), None)
    want = expected("split_test_leakage")
    split = ds.split
    assert int(split.train.indptr[-1]) == want["n_rows_in_training_split"] == 9
    assert _named(ds, split.train) == want["train_rows_per_user"]
    popularity = PopularityConfig().build(len(ds.items))
    popularity.fit(split.train)
    counts = {ds.items[i]: int(c) for i, c in enumerate(popularity.counts.tolist()) if c}
    assert counts == want["item_popularity_from_train_split"]
    ranked = ranking.full_ranking(
        popularity.scorer(),
        split.test,
        len(ds.items),
        ranking.RankingConfig(mask_history=False, ks=[3], top=5),
        torch.device("cpu"),
    )
    assert metrics.means(metrics.per_user(ranked.ranks, [3]))["HR@3"] == 0.0  # 0.333 only with leakage
