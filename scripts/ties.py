"""How much do tied scores cost a train-rec run? Its NDCG@k and HR@k under three tie rules.

    .venv/bin/python scripts/ties.py runs/train-rec/<run> [--split test] [--k 20]

The evaluator counts every item tied with the target against it (pessimistic, metrics.json).
A model that gives several items one vector (M2TRec on coarse metadata: ml-100k's movies
sharing genres and a year) ties often, so this rescores the run's saved model and reports the
figure under that rule, in expectation under a uniformly random order among the tied items
(what an arbitrary tie-break such as topk's gives on average), and with the target first
among them (optimistic, the most any tie-break could give), with the mean size of the
target's tie group. The data are read from the run's recorded config, as the run read them.

    .venv/bin/python scripts/ties.py runs/train-rec/<sasrec run> --group-by class release_year

asks how much of a model's figure an item-ID-free model on those metadata fields could keep:
items sharing their values get one score, the mean of their softmax probabilities (the
probability a model that cannot tell them apart gives each), so they tie, as M2TRec's items
made of the same metadata do. The scores are read as a softmax's logits: meaningful for models
trained with a softmax loss (loss=ce, sampled_softmax), and refused for other runs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np


SOFTMAX_LOSSES = ("ce", "sampled_softmax")  # --group-by reads scores as logits; no loss for popularity, EASE


class TieFigures(NamedTuple):
    """Per target: NDCG@k and HR@k under each rule; float64 [m] each."""

    ndcg_pessimistic: np.ndarray
    ndcg_expected: np.ndarray
    ndcg_optimistic: np.ndarray
    hr_pessimistic: np.ndarray
    hr_expected: np.ndarray
    hr_optimistic: np.ndarray


def tie_figures(greater: np.ndarray, tied: np.ndarray, k: int) -> TieFigures:
    """greater: int [m], items scored above the target; tied: int [m], items scored equal to
    it, the target included (>= 1; 0 marks a target the history mask removed: a miss). The
    target's rank is greater + j, j uniform over 1..tied in expectation; gain 1/log2(rank + 1)
    within the top k (one relevant item, so the ideal DCG is 1)."""
    gain = lambda rank: 1.0 / math.log2(rank + 1) if rank <= k else 0.0  # noqa: E731
    out = np.zeros((6, len(greater)))
    for i, (g, e) in enumerate(zip(greater.tolist(), tied.tolist())):
        if e == 0:
            continue
        out[0, i] = gain(g + e)
        out[1, i] = sum(gain(g + j) for j in range(1, min(e, k - g) + 1)) / e if g < k else 0.0
        out[2, i] = gain(g + 1)
        out[3, i] = float(g + e <= k)
        out[4, i] = max(0, min(e, k - g)) / e
        out[5, i] = float(g + 1 <= k)
    return TieFigures(*out)


def metadata_groups(item_meta: dict, fields: list[str]) -> np.ndarray:
    """int64 [n_items]: one number per distinct tuple of `fields`' values (a list value, such as
    genres, compared whole), numbered in item order. No value (no row, "", []) is a value of its
    own, as M2TRec gives such items one vector. Raises InputError naming a field the data lacks."""
    from sparsecli.errors import InputError

    missing = [f for f in fields if f not in item_meta]
    if missing:
        raise InputError(
            f"no metadata field {missing[0]!r}",
            where="--group-by",
            fix=f"choose from {', '.join(sorted(item_meta)) or 'nothing: the run read no item metadata'}",
        )
    # M2TRec averages a list's values (order does not count); NaN is an empty float
    value = lambda v: tuple(sorted(map(str, v))) if isinstance(v, list) else () if v in (None, "") or v != v else v  # noqa: E731
    numbers: dict = {}
    keys = zip(*(item_meta[f] for f in fields))
    return np.array([numbers.setdefault(tuple(value(v) for v in row), len(numbers)) for row in keys], dtype=np.int64)


def group_mean_probability(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """float64 [rows, n_items]: each item's softmax probability (over its row of `scores`,
    float [rows, n_items]) replaced by the mean over its group (groups: int64 [n_items])."""
    import torch

    logits = torch.from_numpy(scores).double()
    probability = torch.softmax(logits, dim=1)
    index = torch.from_numpy(groups)
    size = torch.bincount(index).double()
    total = torch.zeros(len(scores), len(size), dtype=torch.float64).index_add_(1, index, probability)
    return (total / size)[:, index].numpy()


def rescore(
    run: Path, split: str, group_by: list[str] = (), data_root: str | None = None, data_path: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(greater, tied) for every target of `split`, from the run's saved model and data (under
    `data_root`, or at `data_path`, when given; else where the run read them), scored as the
    CPU evaluator scores them (its batches, its products); with `group_by`, through
    group_mean_probability over those metadata fields first. Raises SparseError, also for
    data files other than those the run read, by name or content (DONE.json's inputs)."""
    import torch
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    import sparsecli.recommend.models.config  # noqa: F401  (registers the model options)
    from sparsecli.errors import InputError
    from sparsecli.io.checksum import fingerprint
    from sparsecli.recommend import data as rec_data
    from sparsecli.recommend import ranking, saved
    from sparsecli.recommend.data.config import RecDataConfig
    from sparsecli.recommend.data.read import input_files
    from sparsecli.runs.rundir import finished_run
    from sparsecli.schema import OPTIONS

    done = finished_run(str(run), "run")
    if done.get("command") != "train-rec":
        raise InputError(
            f"{run} is a {done.get('command', 'sparse')} run, not a train-rec one",
            where="run",
            fix="pass a train-rec run; rank a pruned model first with `sparse train-rec init=<run> trainer.max_epochs=0`",
        )
    recorded_config = run / ".hydra" / "config.yaml"
    try:
        config = OmegaConf.load(recorded_config)  # as recorded: ${oc.env:...} still to resolve
        data_config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RecDataConfig), config["data"]))
        recorded_root = OmegaConf.select(config, "data_root")
        loss, model = OmegaConf.select(config, "loss.name"), OmegaConf.select(config, "model.name")
    except (OSError, yaml.YAMLError, OmegaConfBaseException, TypeError, KeyError, ValueError) as err:
        raise InputError(
            f"{recorded_config} is missing or unreadable ({type(err).__name__})",
            where="run",
            fix="recompute the run with runtime.force=true",
        ) from None
    option = OPTIONS["model"].get(model)
    if group_by and (loss not in SOFTMAX_LOSSES or not getattr(option, "neural", False)):
        raise InputError(
            f"the run's model ({model}"
            + (f", loss={loss}" if getattr(option, "neural", False) else "")
            + ") does not score items as a softmax's logits",
            where="--group-by",
            fix=f"group a run trained with loss={' or loss='.join(SOFTMAX_LOSSES)}",
        )
    if data_path:
        data_config.path = data_path
    given = data_root or data_path
    data_root = data_root or recorded_root
    where, fix = (
        ("--data-path", "pass --data-path <the data the run read>")
        if data_config.path
        else ("--data-root", "pass --data-root <folder holding the data the run read>")
    )
    try:
        files = input_files(data_config, data_root)
    except InputError as err:
        raise InputError(err.what + ("" if given else " (as the run recorded it)"), where=where, fix=fix) from None
    recorded = done.get("inputs", {}).get("data", {})
    found = {path.name: path for path in files}
    for name in sorted(set(recorded) | set(found)):
        if name == "hub":
            continue
        if name not in found or name not in recorded or fingerprint(found[name]) != recorded[name]:
            what = "is gone" if name not in found else "was not read by the run" if name not in recorded else (
                "differs from the file the run read")  # fmt: skip
            raise InputError(f"{found.get(name, name)} {what}", where=where, fix=fix)
    dataset = rec_data.load(data_config, data_root)
    targets = getattr(dataset.split, split)
    groups = metadata_groups(dataset.item_meta, list(group_by)) if group_by else None
    scores_of = ranking.cpu_scores(saved.load(str(run), "run").model.scorer())
    greater = np.zeros(len(targets.targets), dtype=np.int64)
    tied = np.zeros(len(targets.targets), dtype=np.int64)
    torch.set_num_threads(1)  # as the evaluator's own threads run
    for rows in ranking.length_batches(targets, int(config["rank"]["batch_size"])):
        block = scores_of(targets.inputs, rows)
        if groups is not None:
            block = group_mean_probability(block, groups)
        if config["rank"]["mask_history"]:  # in place, through a tensor sharing the array
            ranking.masked_history(torch.from_numpy(block), targets.inputs, rows)
        mine = block[np.arange(len(rows)), targets.targets[rows]]
        finite = np.isfinite(mine)
        greater[rows] = (block > mine[:, None]).sum(1) * finite
        tied[rows] = (block == mine[:, None]).sum(1) * finite
    return greater, tied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished train-rec run directory")
    parser.add_argument("--split", choices=["valid", "test"], default="test")
    parser.add_argument("--k", type=int, default=20, help="the cutoff, >= 1")
    parser.add_argument("--data-root", help="where the run's data lie now (default: where it read them)")
    parser.add_argument("--data-path", help="the run's data.path now, for a run given data.path")
    parser.add_argument(
        "--group-by", nargs="+", default=[], metavar="FIELD",
        help="score items sharing these metadata values as one (their mean softmax probability)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.k < 1:
        print(f"error: --k: {args.k} is not a cutoff; pass --k 1 or more", file=sys.stderr)
        return 2
    if not args.run.is_dir() or not (args.run / "model.json").is_file():
        print(f"error: {args.run}: not a train-rec run; pass the directory `sparse train-rec` printed", file=sys.stderr)
        return 2
    from sparsecli.errors import SparseError

    try:
        greater, tied = rescore(args.run, args.split, args.group_by, args.data_root, args.data_path)
    except SparseError as err:  # unfinished or changed, another command's run, the data moved
        print(f"error: {err.line()}", file=sys.stderr)
        return err.exit_code
    figures = tie_figures(greater, tied, args.k)
    scored = tied > 0
    group = f"mean tie group {tied[scored].mean():.2f}" if scored.any() else "every target masked by its history"
    grouped = f", items grouped by {' + '.join(args.group_by)}" if args.group_by else ""
    print(f"{args.run.name} {args.split}: {len(tied)} targets{grouped}, {group}")
    for rule in ("pessimistic", "expected", "optimistic"):
        ndcg, hr = getattr(figures, f"ndcg_{rule}").mean(), getattr(figures, f"hr_{rule}").mean()
        print(f"  {rule:12} NDCG@{args.k} {ndcg:.4f}  HR@{args.k} {hr:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
