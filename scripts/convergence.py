"""Does one training reach another's best validation figure in fewer steps? M2TRec's claim:
multi-task training (next item + category levels) converges faster than single-task.

    .venv/bin/python scripts/convergence.py --faster runs/train-rec/<multi>... --baseline runs/train-rec/<single>...
    make diginetica-convergence     # 10 seeds of each on Diginetica, 25 epochs, no early stop, then this

Both groups are train-rec run directories; their train_log.jsonl gives the validation figure
(the runs' trainer.monitor, NDCG@10 by default) after each validation, at a step count: each
epoch, or every N steps with trainer.eval_every_steps=N (the make targets validate every step).
Runs pair up by seed. Reported:

  * per seed: the step at which the baseline reaches its best, the first step at which the
    faster run's figure is >= that best, and their ratio ("never" when it does not);
  * over the seeds: the same on the mean validation curves (validation by validation, up to
    the shortest run), which averages out the validation set's noise (a few hundred users move the figure
    by single hits); and the median of the per-seed ratios, "never" counted as infinite.

Runs with early stopping end at different epochs; for the mean curves, train all for the same
epochs (trainer.patience >= trainer.max_epochs: patience counts epoch-end validations).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import yaml


class Curve(NamedTuple):
    seed: int
    monitor: str
    steps: list[int]
    values: list[float]


class Refused(Exception):
    """A run that cannot be read or compared: one line, exit 2."""


def read_curve(run: Path) -> Curve:
    """The validation figures of one finished train-rec run, with the step count at each
    (validations while a sparsity schedule still prunes are not candidates, as in training)."""
    if not (run / "DONE.json").is_file():
        raise Refused(f"{run}: not a finished run (no DONE.json); pass the directory `sparse train-rec` printed")
    try:
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
        monitor, seed = config["trainer"].get("monitor", "NDCG@10"), int(config["seed"])
        steps, values = [], []
        for line in (run / "train_log.jsonl").read_text().splitlines():
            entry = json.loads(line) if line.strip() else {}
            if "valid" in entry and not entry.get("before_final_sparsity"):
                steps.append(int(entry["step"]))
                values.append(float(entry["valid"][monitor]))
    except (OSError, TypeError, KeyError, ValueError, yaml.YAMLError) as err:
        raise Refused(f"{run}: not a train-rec run this script can read ({type(err).__name__}: {err})") from None
    if not values or any(math.isnan(v) for v in values):
        raise Refused(f"{run}: its train_log.jsonl has no validation figures, or NaN ones")
    return Curve(seed, monitor, steps, values)


def by_seed(runs: list[Path], group: str) -> dict[int, Curve]:
    curves: dict[int, Curve] = {}
    for curve, run in zip(map(read_curve, runs), runs):
        if curve.seed in curves:
            raise Refused(f"{group}: two runs of seed {curve.seed} ({run}); pass one run per seed")
        curves[curve.seed] = curve
    return curves


Points = tuple[list[int], list[float]]  # steps, validation figures


def reach(baseline: Points, faster: Points) -> tuple[int, Optional[int]]:
    """(step of the baseline's best, first step the faster curve is >= that best or None).
    Ties in the best go to the earliest step."""
    best = int(np.argmax(baseline[1]))
    hit = next((s for s, v in zip(*faster) if v >= baseline[1][best]), None)
    return baseline[0][best], hit


def ratio(steps: tuple[int, Optional[int]]) -> float:
    return math.inf if steps[1] is None else steps[1] / max(steps[0], 1)


def mean_curve(curves: list[Curve]) -> Points:
    n = min(len(c.values) for c in curves)
    steps = curves[0].steps[:n]
    if any(c.steps[:n] != steps for c in curves):
        raise Refused("the runs validate at different steps; train them with the same data and trainer")
    return steps, list(np.mean([c.values[:n] for c in curves], axis=0))


def compare(faster: dict[int, Curve], baseline: dict[int, Curve]) -> None:
    seeds = sorted(faster.keys() & baseline.keys())
    if not seeds:
        raise Refused("no seed is in both groups; pass runs of the same seeds")
    monitors = {c.monitor for c in (*faster.values(), *baseline.values())}
    if len(monitors) > 1:
        raise Refused(f"the runs monitor different figures ({', '.join(sorted(monitors))}); compare like with like")
    unpaired = sorted(faster.keys() ^ baseline.keys())
    if unpaired:
        print(f"warning: seeds in one group only, left out: {', '.join(map(str, unpaired))}", file=sys.stderr)
    b_mean, f_mean = mean_curve([baseline[s] for s in seeds]), mean_curve([faster[s] for s in seeds])
    print(f"{monitors.pop()} on the validation set; steps to reach the baseline's best")
    print("seed  baseline best (step)   faster reaches it at   ratio")
    ratios = []
    for seed in seeds:
        steps = reach((baseline[seed].steps, baseline[seed].values), (faster[seed].steps, faster[seed].values))
        ratios.append(ratio(steps))
        reached = "never" if steps[1] is None else str(steps[1])
        print(f"{seed:4d}  {max(baseline[seed].values):.4f} ({steps[0]:5d})        {reached:>6}"
              f"             {ratios[-1]:.2f}")  # fmt: skip
    steps = reach(b_mean, f_mean)
    reached = "never reaches it" if steps[1] is None else f"reaches it at step {steps[1]}: {ratio(steps):.2f}x"
    print(f"mean curves over {len(seeds)} seeds: baseline best {max(b_mean[1]):.4f} at step {steps[0]}; "
          f"the faster curve {reached}")  # fmt: skip
    print(f"median of the per-seed ratios: {float(np.median(ratios)):.2f}x ('never' counted as infinite); "
          f"{sum(r <= 0.8 for r in ratios)} of {len(ratios)} seeds at <= 0.8x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faster", nargs="+", type=Path, required=True, help="runs claimed to converge faster")
    parser.add_argument("--baseline", nargs="+", type=Path, required=True, help="the runs they are compared with")
    args = parser.parse_args()
    try:
        compare(by_seed(args.faster, "--faster"), by_seed(args.baseline, "--baseline"))
    except Refused as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
