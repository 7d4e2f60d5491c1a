"""Quality against sparsity: the "essential sparsity" curve of a set of pruned models.

    python scripts/sparsity_curve.py runs/eval/<a> runs/eval/<b> ... --out runs/sparsity_curve
    python scripts/sparsity_curve.py runs/eval/*/ --measure nDCG@10 --out runs/sparsity_curve

Each eval run is followed upstream (search -> index -> encode) to the model its encode run
read; a model that is a `sparse prune` run gives the sparsity (report.json) and the method
(criterion, structure), any other model counts as dense (sparsity 0). Writes <out>/curve.csv
(one row per eval run) and <out>/curve.png (one line per method, the dense figure dashed),
and marks each method's knee: the highest sparsity that keeps at least --keep (0.99) of the
dense figure, the operational reading of "essential sparsity" (Jaiswal et al., NeurIPS 2023).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def _done(path: Path) -> dict:
    return json.loads((path / "DONE.json").read_text(encoding="utf-8"))


def _upstream(path: Path, field: str) -> Path:
    entry = _done(path)["upstream"][field]
    entry = entry[0] if isinstance(entry, list) else entry
    return Path(entry["path"])


def describe(eval_run: Path, measure: str) -> dict:
    """measure, sparsity and method of one eval run (a single search run upstream)."""
    metrics = json.loads((eval_run / "metrics.json").read_text(encoding="utf-8"))
    value = _find(metrics, measure)
    encode = _upstream(_upstream(_upstream(eval_run, "search_run"), "index_run"), "encode_run")
    manifest = (encode / "manifest.json").read_text(encoding="utf-8")
    row = {"eval_run": str(eval_run), "encode_run": str(encode), measure: value, "sparsity": 0.0, "method": "dense"}
    for prune_run in _prune_runs(json.loads(manifest)):
        report = json.loads((Path(prune_run) / "report.json").read_text(encoding="utf-8"))
        config = report["sparsity"]
        structure = config["nm"] if config["structure"] == "nm" else config["structure"]
        criterion = config["criterion"] + ("+" + config["refine"] if config.get("refine", "none") != "none" else "")
        if "recovery" in report:  # distilled after (oneshot) or while (gradual) pruning
            criterion += f" {config['name']}+recovery"
        row.update(sparsity=report["sparsity_of_targets"], method=f"{criterion} {structure}", prune_run=prune_run)
    return row


def _find(metrics: dict, measure: str) -> float:
    """The measure's mean in an eval run's metrics.json, wherever the report nests it."""
    stack = [metrics]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if measure in node and isinstance(node[measure], (int, float)):
                return float(node[measure])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise SystemExit(f"no {measure} in metrics.json")


def _prune_runs(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        run = node.get("run")
        if isinstance(run, dict) and run.get("command") == "prune":
            found.append(run["path"])
        for value in node.values():
            found += _prune_runs(value)
    elif isinstance(node, list):
        for value in node:
            found += _prune_runs(value)
    return sorted(set(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_runs", nargs="+", type=Path)
    parser.add_argument("--measure", default="nDCG@10")
    parser.add_argument("--keep", type=float, default=0.99, help="fraction of the dense figure the knee keeps")
    parser.add_argument("--out", type=Path, default=Path("runs/sparsity_curve"))
    args = parser.parse_args()
    rows = sorted((describe(p, args.measure) for p in args.eval_runs), key=lambda r: (r["method"], r["sparsity"]))
    dense = [r[args.measure] for r in rows if r["method"] == "dense"]
    base = max(dense) if dense else None
    methods = sorted({r["method"] for r in rows if r["method"] != "dense"})
    knees = {}
    for method in methods:
        points = [r for r in rows if r["method"] == method]
        kept = [r["sparsity"] for r in points if base is not None and r[args.measure] >= args.keep * base]
        knees[method] = max(kept) if kept else None
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "curve.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "sparsity", args.measure, "relative_to_dense", "eval_run", "prune_run"])
        for r in rows:
            relative = r[args.measure] / base if base else ""
            writer.writerow(
                [r["method"], r["sparsity"], r[args.measure], relative, r["eval_run"], r.get("prune_run", "")]
            )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for method in methods:
        points = [r for r in rows if r["method"] == method]
        xs = [0.0] + [r["sparsity"] for r in points] if base is not None else [r["sparsity"] for r in points]
        ys = [base] + [r[args.measure] for r in points] if base is not None else [r[args.measure] for r in points]
        (line,) = axis.plot(xs, ys, marker="o", label=method)
        if knees[method] is not None:
            axis.axvline(knees[method], color=line.get_color(), linestyle=":", linewidth=1)
    if base is not None:
        axis.axhline(base, color="grey", linestyle="--", linewidth=1, label=f"dense {base:.4f}")
    axis.set_xlabel("sparsity of the pruned layers")
    axis.set_ylabel(args.measure)
    axis.set_title(f"{args.measure} against sparsity (dotted: the knee, >= {args.keep:.0%} of dense)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(args.out / "curve.png", dpi=120)
    print(json.dumps({"dense": base, "knees": knees, "rows": len(rows), "out": str(args.out)}, indent=1))


if __name__ == "__main__":
    main()
