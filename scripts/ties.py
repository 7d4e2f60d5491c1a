"""How much do tied scores cost a train-rec run? Its NDCG@k and HR@k under three tie rules.

    .venv/bin/python scripts/ties.py runs/train-rec/<run> [--split test] [--k 20]

The evaluator counts every item tied with the target against it (pessimistic, metrics.json).
A model that gives several items one vector (M2TRec on coarse metadata: ml-100k's movies
sharing genres and a year) ties often, so this rescores the run's saved model and reports the
figure under that rule, in expectation under a uniformly random order among the tied items
(what an arbitrary tie-break such as topk's gives on average), and with the target first
among them (optimistic, the most any tie-break could give), with the mean size of the
target's tie group. The data are read from the run's recorded config, as the run read them.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np


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


def rescore(run: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(greater, tied) for every target of `split`, from the run's saved model and data."""
    import torch
    import yaml
    from omegaconf import OmegaConf

    import sparsecli.recommend.models.config  # noqa: F401  (registers the model options)
    from sparsecli.recommend import data as rec_data
    from sparsecli.recommend import ranking, saved
    from sparsecli.recommend.data.config import RecDataConfig

    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    data_config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RecDataConfig), config["data"]))
    targets = getattr(rec_data.load(data_config, config.get("data_root")).split, split)
    scorer = saved.load(str(run), "run").model.scorer()
    greater, tied = [], []
    with torch.no_grad():
        for start in range(0, len(targets.targets), 256):
            rows = np.arange(start, min(start + 256, len(targets.targets)))
            scores = scorer.scores(targets.inputs, rows)
            if config["rank"]["mask_history"]:
                scores = ranking.masked_history(scores, targets.inputs, rows)
            mine = scores[torch.arange(len(rows)), torch.from_numpy(targets.targets[rows].astype(np.int64))]
            finite = torch.isfinite(mine)
            greater.append(((scores > mine[:, None]).sum(1) * finite).numpy())
            tied.append(((scores == mine[:, None]).sum(1) * finite).numpy())
    return np.concatenate(greater), np.concatenate(tied)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished train-rec run directory")
    parser.add_argument("--split", choices=["valid", "test"], default="test")
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    if not (args.run / "DONE.json").is_file() or not (args.run / "model.json").is_file():
        print(f"error: {args.run}: not a finished train-rec run; pass the directory it printed", file=sys.stderr)
        return 2
    from sparsecli.errors import SparseError

    try:
        greater, tied = rescore(args.run, args.split)
    except SparseError as err:  # the data moved, or the saved model does not load
        print(f"error: {err.line()}", file=sys.stderr)
        return 2
    figures = tie_figures(greater, tied, args.k)
    print(f"{args.run.name} {args.split}: {len(tied)} targets, mean tie group {tied[tied > 0].mean():.2f}")
    for rule in ("pessimistic", "expected", "optimistic"):
        ndcg, hr = getattr(figures, f"ndcg_{rule}").mean(), getattr(figures, f"hr_{rule}").mean()
        print(f"  {rule:12} NDCG@{args.k} {ndcg:.4f}  HR@{args.k} {hr:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
