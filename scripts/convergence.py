"""Does one training reach another's best validation figure in fewer steps? M2TRec's claim:
multi-task training (next item + category levels) converges faster than single-task.

    .venv/bin/python scripts/convergence.py --faster runs/train-rec/<multi>... --baseline runs/train-rec/<single>...
    make diginetica-convergence     # 10 seeds of each on Diginetica, 25 epochs, no early stop, then this

Both groups are train-rec run directories; their train_log.jsonl gives the validation figure
(the runs' trainer.monitor, NDCG@10 by default) after each epoch, at a step count. Runs pair up
by seed. Reported:

  * per seed: the step at which the baseline reaches its best, the first step at which the
    faster run's figure is >= that best, and their ratio ("never" when it does not);
  * over the seeds: the same on the mean validation curves (epoch by epoch, up to the shortest
    run), which averages out the validation set's noise (a few hundred users move the figure
    by single hits); and the median of the per-seed ratios, "never" counted as infinite.

Runs with early stopping end at different epochs; for the mean curves, train all for the same
epochs (trainer.patience >= trainer.max_epochs).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import yaml


class Curve(NamedTuple):
    seed: int
    steps: list[int]
    values: list[float]


def read_curve(run: Path) -> Curve:
    """The validation figures of one run, with the step count after each validated epoch."""
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    monitor = config["trainer"].get("monitor", "NDCG@10")
    steps, values = [], []
    for line in (run / "train_log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if "valid" in entry and not entry.get("before_final_sparsity"):
            steps.append(entry["step"])
            values.append(entry["valid"][monitor])
    return Curve(int(config["seed"]), steps, values)


Points = tuple[list[int], list[float]]  # steps, validation figures


def reach(baseline: Points, faster: Points) -> tuple[int, Optional[int]]:
    """(step of the baseline's best, first step the faster curve is >= that best or None).
    Ties in the best go to the earliest step."""
    best = int(np.argmax(baseline[1]))
    hit = next((s for s, v in zip(*faster) if v >= baseline[1][best]), None)
    return baseline[0][best], hit


def ratio(steps: tuple[int, Optional[int]]) -> float:
    return math.inf if steps[1] is None else steps[1] / steps[0]


def mean_curve(curves: list[Curve]) -> Points:
    n = min(len(c.values) for c in curves)
    steps = curves[0].steps[:n]
    if any(c.steps[:n] != steps for c in curves):
        raise SystemExit("error: the runs validate at different steps; train them with the same data and trainer")
    return steps, list(np.mean([c.values[:n] for c in curves], axis=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faster", nargs="+", type=Path, required=True, help="runs claimed to converge faster")
    parser.add_argument("--baseline", nargs="+", type=Path, required=True, help="the runs they are compared with")
    args = parser.parse_args()
    faster = {c.seed: c for c in map(read_curve, args.faster)}
    baseline = {c.seed: c for c in map(read_curve, args.baseline)}
    seeds = sorted(faster.keys() & baseline.keys())
    if not seeds:
        raise SystemExit("error: no seed is in both groups; pass runs of the same seeds")
    print("seed  baseline best (step)   faster reaches it at   ratio")
    ratios = []
    for seed in seeds:
        steps = reach(baseline[seed][1:], faster[seed][1:])
        ratios.append(ratio(steps))
        best = max(baseline[seed].values)
        print(f"{seed:4d}  {best:.4f} ({steps[0]:5d})        {steps[1] if steps[1] is not None else 'never':>6}"
              f"             {ratios[-1]:.2f}")  # fmt: skip
    b_mean, f_mean = mean_curve([baseline[s] for s in seeds]), mean_curve([faster[s] for s in seeds])
    steps = reach(b_mean, f_mean)
    print(f"mean curves over {len(seeds)} seeds: baseline best {max(b_mean[1]):.4f} at step {steps[0]}; "
          f"faster reaches it at {steps[1] if steps[1] is not None else 'never'}: {ratio(steps):.2f}x")  # fmt: skip
    print(f"median of the per-seed ratios: {float(np.median(ratios)):.2f}x; "
          f"{sum(r <= 0.8 for r in ratios)} of {len(ratios)} seeds at <= 0.8x")  # fmt: skip


if __name__ == "__main__":
    main()
