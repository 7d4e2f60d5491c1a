"""SASRec on ml-100k: `sparse train-rec` against RecBole 1.2.1, same wall-clock budget, same split.

    .venv/bin/python scripts/bench_rec.py --budget-s 900 --out runs/bench_rec          # both sides
    .venv/bin/python scripts/bench_rec.py --out runs/bench_rec --reuse-peer            # reuse recbole.json
    .venv/bin/python scripts/bench_rec.py --out runs/bench_rec --reuse-peer --our-run runs/bench_rec/runs/<run>
    .venv/bin/python scripts/bench_rec.py --out runs/bench_rec --peer-only             # RecBole side only

RecBole side: runs scripts/recbole_peer.py inside its own venv (.venv-recbole, git-ignored), which this script
builds when missing exactly as ../shared/peers/recbole/README.md says:

    python3 -m venv .venv-recbole && .venv-recbole/bin/pip install torch==2.13.0 \\
        && .venv-recbole/bin/pip install -r ../shared/peers/recbole/requirements.txt

Settings (see recbole_peer.py): SASRec, RecBole's ml-100k atomic files (../shared/data/rec/ml-100k), leave-one-out
by time, full ranking without history masking, CE loss, batch 2048, max length 50, seed 2020, 2 threads. RecBole
trains until its wall clock (training + per-epoch validation, data loading excluded) reaches --budget-s or
--max-epochs epochs are done, whichever first (checked after each epoch; an epoch is ~260-360 s on 2 cores).
Result cached as <out>/recbole.json (+ recbole.json.split.json, recbole.log); --reuse-peer reuses it.

Our side: `sparse train-rec data=ml-100k model=sasrec loss=ce rank.mask_history=false trainer.max_wall_s=<B>
data_root=<data_root> runs_root=<out>/runs` (our defaults otherwise; no history mask, as RecBole), where B defaults to the wall time RecBole actually used (its last epoch's wall_s), so both
get the same clock. The run directory is the last stdout line; train_log.jsonl, metrics.json and qrels.txt are
read from it (parse_our_run, the one place that knows those names).

Reported (stdout and <out>/summary.json, plot <out>/valid_ndcg_vs_wall.png):
  * test NDCG@10 / HR@10 / MRR@10 of both, and ours/RecBole of test NDCG@10 after RecBole's budget;
  * the wall time at which our validation NDCG@10 first reaches RecBole's final validation NDCG@10, and its
    ratio to RecBole's total training wall time;
  * the split check: every RecBole test target (user -> item) against our qrels.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PEER_REQUIREMENTS = SHARED / "peers/recbole/requirements.txt"
PEER_TORCH = "torch==2.13.0"
RECBOLE_VENV = ROOT / ".venv-recbole"
PEER_SCRIPT = ROOT / "scripts/recbole_peer.py"
DEFAULT_DATA_ROOT = SHARED / "data"
SPARSE = ROOT / ".venv/bin/sparse"


# --------------------------------------------------------------------------------------------- RecBole side


def ensure_recbole_venv(venv: Path = RECBOLE_VENV, requirements: Path = PEER_REQUIREMENTS) -> Path:
    """Build the RecBole venv if it is missing; return its python."""
    py = venv / "bin/python"
    if py.exists():
        return py
    if not requirements.exists():
        sys.exit(f"bench_rec: {requirements} not found; it pins the RecBole peer environment")
    print(f"bench_rec: building {venv} (torch + RecBole pins, several minutes)", flush=True)
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/pip"), "install", "--disable-pip-version-check"]
    subprocess.run(pip + [PEER_TORCH], check=True)
    subprocess.run(pip + ["-r", str(requirements)], check=True)
    return py


def run_peer(
    out: Path, data_root: Path, budget_s: float, max_epochs: int, seed: int, threads: int, reuse: bool, nice: int
) -> dict:
    """Run (or reuse) the RecBole measurement; return its JSON (see recbole_peer.py)."""
    path = out / "recbole.json"
    if reuse:
        if not path.exists():
            sys.exit(f"bench_rec: --reuse-peer but {path} does not exist")
        peer = json.loads(path.read_text())
        if peer.get("budget_s") != budget_s or peer.get("max_epochs") != max_epochs:
            print(
                f"bench_rec: note: reused {path} was measured with budget {peer.get('budget_s')} s / "
                f"{peer.get('max_epochs')} epochs (asked: {budget_s} s / {max_epochs})",
                flush=True,
            )
        return peer
    py = ensure_recbole_venv()
    cmd = [
        str(py),
        str(PEER_SCRIPT),
        "--data-dir",
        str(data_root / "rec"),
        "--dataset",
        "ml-100k",
        "--budget-s",
        str(budget_s),
        "--max-epochs",
        str(max_epochs),
        "--seed",
        str(seed),
        "--threads",
        str(threads),
        "--out",
        str(path),
    ]
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    log = out / "recbole.log"
    print(f"bench_rec: RecBole: {' '.join(cmd)}  (log: {log})", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"bench_rec: recbole_peer.py failed (exit {proc.returncode}); see {log}")
    return json.loads(path.read_text())


def peer_curve(peer: dict) -> list[dict]:
    return [{"epoch": r["epoch"], "wall_s": r["wall_s"], "ndcg@10": r["valid_ndcg@10"]} for r in peer["curve"]]


# --------------------------------------------------------------------------------------------- our side


def run_ours(data_root: Path, budget_s: float, out: Path) -> Path:
    """Train ours with `sparse train-rec`; return the run directory (the last line it prints)."""
    cmd = [
        str(SPARSE),
        "train-rec",
        "data=ml-100k",
        "model=sasrec",
        "loss=ce",
        "rank.mask_history=false",  # RecBole's protocol for sequential models: every item ranked
        f"trainer.max_wall_s={budget_s:g}",
        "runtime.progress=log",
        f"data_root={data_root}",
        f"runs_root={out / 'runs'}",
    ]
    log = out / "ours.log"
    print(f"bench_rec: ours: {' '.join(cmd)}  (log: {log})", flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, check=False)
    log.write_text(proc.stdout)
    if proc.returncode != 0:
        sys.exit(f"bench_rec: sparse train-rec failed (exit {proc.returncode}); see {log}")
    lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
    if not lines:
        sys.exit(f"bench_rec: sparse train-rec printed nothing; expected the run directory last (see {log})")
    run_dir = Path(lines[-1])
    if not run_dir.is_absolute():
        run_dir = ROOT / run_dir
    if not run_dir.is_dir():
        sys.exit(f"bench_rec: last stdout line of sparse train-rec is not a directory: {lines[-1]!r}")
    return run_dir


_METRIC_ALIASES = {"ndcg": "ndcg", "hr": "hit", "hit": "hit", "mrr": "mrr", "recall": "recall"}


def norm_metrics(d: dict) -> dict:
    """{"NDCG@10": x, "HR@10": y} -> {"ndcg@10": x, "hit@10": y} (RecBole's spelling)."""
    out = {}
    for k, v in (d or {}).items():
        if not isinstance(v, (int, float)) or "@" not in str(k):
            continue
        name, _, cut = str(k).partition("@")
        out[f"{_METRIC_ALIASES.get(name.lower(), name.lower())}@{cut}"] = float(v)
    return out


def parse_our_run(run_dir: Path) -> dict:
    """The only place that knows our run's file names and layout; adjust here if they change.

    train_log.jsonl: one JSON object a line; those with "valid" are {"epoch", "wall_s", "valid": {"NDCG@10", ...}}.
    metrics.json: {"test": {"NDCG@10", "HR@10", "MRR@10", ...}, "valid": {...}}.
    test/qrels.txt (optional): TREC qrels of the test targets, "user 0 item 1".
    """
    curve = []
    log = run_dir / "train_log.jsonl"
    if log.exists():
        for line in log.read_text().splitlines():
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if isinstance(rec, dict) and isinstance(rec.get("valid"), dict):
                m = norm_metrics(rec["valid"])
                if "ndcg@10" in m:
                    curve.append({"epoch": rec.get("epoch"), "wall_s": float(rec["wall_s"]), "ndcg@10": m["ndcg@10"]})
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    qrels = run_dir / "test" / "qrels.txt"
    return {
        "run_dir": str(run_dir),
        "curve": curve,
        "test": norm_metrics(metrics.get("test", {})),
        "valid": norm_metrics(metrics.get("valid", {})),
        "qrels": str(qrels) if qrels.exists() else None,
    }


# --------------------------------------------------------------------------------------------- comparison


def first_reach(curve: list[dict], target: float) -> dict | None:
    """First point of a curve whose validation NDCG@10 is >= target."""
    for r in curve:
        if r["ndcg@10"] >= target:
            return r
    return None


def read_qrels(path: Path) -> dict[str, set[str]]:
    judged: dict[str, set[str]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[0].lower() in ("query-id", "qid"):
            continue
        try:
            rel = float(parts[3])
        except ValueError:
            continue
        if rel > 0:
            judged.setdefault(parts[0], set()).add(parts[2])
    return judged


def compare_splits(recbole_split: Path, our_qrels: Path | None) -> dict:
    """Every RecBole test target (user token -> item token) against our test qrels."""
    if our_qrels is None:
        return {"checked": False, "reason": "our run has no qrels.txt"}
    if not recbole_split.exists():
        return {"checked": False, "reason": f"{recbole_split} missing"}
    rb = {r["user"]: r["target"] for r in json.loads(recbole_split.read_text())["test"]}
    ours = read_qrels(our_qrels)
    differ = sorted((u for u in rb if u in ours and ours[u] != {rb[u]}), key=_natural)
    missing = sorted((u for u in rb if u not in ours), key=_natural)
    extra = sorted((u for u in ours if u not in rb), key=_natural)
    return {
        "checked": True,
        "recbole_users": len(rb),
        "our_users": len(ours),
        "same": len(rb) - len(differ) - len(missing),
        "differ": len(differ),
        "missing_in_ours": len(missing),
        "extra_in_ours": len(extra),
        "examples": [{"user": u, "recbole": rb[u], "ours": sorted(ours[u])} for u in differ[:10]],
    }


def _natural(s: str):
    return (0, int(s), "") if s.isdigit() else (1, 0, s)


def plot_curves(peer: list[dict], ours: list[dict], target: float, path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench_rec: matplotlib not installed, no plot (pip install -e '.[bench]' or pip install matplotlib)")
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for curve, label, style in ((peer, "RecBole 1.2.1", "o-"), (ours, "sparse train-rec", "s-")):
        if curve:
            ax.plot([r["wall_s"] for r in curve], [r["ndcg@10"] for r in curve], style, label=label)
    ax.axhline(target, color="grey", ls=":", lw=1, label=f"RecBole final valid NDCG@10 = {target:.4f}")
    ax.set_xlabel("wall-clock seconds since training start (validation included)")
    ax.set_ylabel("validation NDCG@10 (full ranking)")
    ax.set_title("SASRec on ml-100k, leave-one-out, CE loss, 2 threads")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def _ratio(a, b):
    return a / b if a is not None and b else None


def _fmt(x, spec=".4f"):
    return "-" if x is None else format(x, spec)


def report(peer: dict, ours: dict | None, out: Path) -> dict:
    pc = peer_curve(peer)
    peer_wall = pc[-1]["wall_s"] if pc else None
    target = pc[-1]["ndcg@10"] if pc else None
    summary = {
        "recbole": {
            "version": peer.get("version"),
            "epochs": peer.get("epochs"),
            "stop_reason": peer.get("stop_reason"),
            "load_s": peer.get("load_s"),
            "train_wall_s": peer_wall,
            "curve": pc,
            "final_valid_ndcg@10": target,
            "best_epoch": peer.get("best_epoch"),
            "test": peer.get("test"),
        },
    }
    print(
        f"\nRecBole {peer.get('version')}: {peer.get('epochs')} epochs ({peer.get('stop_reason')}), "
        f"load {_fmt(peer.get('load_s'), '.1f')} s, train wall {_fmt(peer_wall, '.1f')} s"
    )
    for r in pc:
        print(f"  epoch {r['epoch']}: wall {r['wall_s']:8.1f} s  valid NDCG@10 {r['ndcg@10']:.4f}")
    if ours is not None:
        reach = first_reach(ours["curve"], target) if target is not None else None
        ours_wall = ours["curve"][-1]["wall_s"] if ours["curve"] else None
        summary["ours"] = {
            "run_dir": ours["run_dir"],
            "curve": ours["curve"],
            "train_wall_s": ours_wall,
            "test": ours["test"],
        }
        summary["compare"] = {
            "test_ndcg@10_ratio": _ratio(ours["test"].get("ndcg@10"), peer["test"].get("ndcg@10")),
            "reach_recbole_final_valid": {
                "target_ndcg@10": target,
                "ours_wall_s": reach["wall_s"] if reach else None,
                "ours_epoch": reach["epoch"] if reach else None,
                "ratio_to_recbole_wall": _ratio(reach["wall_s"] if reach else None, peer_wall),
            },
        }
        print(f"ours: {len(ours['curve'])} validations, train wall {_fmt(ours_wall, '.1f')} s  ({ours['run_dir']})")
    print(f"\n{'test':10s} {'NDCG@10':>9s} {'HR@10':>9s} {'MRR@10':>9s}")
    for name, m in (("RecBole", peer.get("test", {})), ("ours", ours["test"] if ours else None)):
        if m is not None:
            print(f"{name:10s} {_fmt(m.get('ndcg@10')):>9s} {_fmt(m.get('hit@10')):>9s} {_fmt(m.get('mrr@10')):>9s}")
    if ours is not None:
        c = summary["compare"]
        r = c["reach_recbole_final_valid"]
        print(f"\nours/RecBole test NDCG@10: {_fmt(c['test_ndcg@10_ratio'], '.3f')}")
        if r["ours_wall_s"] is None:
            print(f"ours never reached RecBole's final valid NDCG@10 {_fmt(target)}")
        else:
            print(
                f"ours reached RecBole's final valid NDCG@10 {target:.4f} at {r['ours_wall_s']:.1f} s "
                f"(epoch {r['ours_epoch']}), {r['ratio_to_recbole_wall']:.3f}x RecBole's {peer_wall:.1f} s"
            )
        split = compare_splits(
            out / peer.get("split_file", "recbole.json.split.json"), Path(ours["qrels"]) if ours["qrels"] else None
        )
        summary["split_check"] = split
        if split["checked"]:
            print(
                f"split: {split['same']}/{split['recbole_users']} RecBole test targets equal ours, "
                f"{split['differ']} differ, {split['missing_in_ours']} users missing in ours, "
                f"{split['extra_in_ours']} extra in ours"
            )
            for e in split["examples"]:
                print(f"  user {e['user']}: RecBole {e['recbole']} ours {e['ours']}")
        else:
            print(f"split: not checked ({split['reason']})")
    summary["plot"] = plot_curves(pc, ours["curve"] if ours else [], target or 0.0, out / "valid_ndcg_vs_wall.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nbench_rec: wrote {out / 'summary.json'}" + (f" and {summary['plot']}" if summary["plot"] else ""))
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "runs/bench_rec")
    p.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help="holds rec/ml-100k/ml-100k.inter (default ../shared/data)",
    )
    p.add_argument("--budget-s", type=float, default=900.0, help="RecBole's wall budget (checked after each epoch)")
    p.add_argument("--max-epochs", type=int, default=3, help="RecBole's epoch cap")
    p.add_argument(
        "--our-budget-s",
        type=float,
        default=None,
        help="our trainer.max_wall_s (default: the wall time RecBole actually used)",
    )
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--nice", type=int, default=10, help="niceness of the RecBole subprocess (0: none)")
    p.add_argument("--reuse-peer", action="store_true", help="reuse <out>/recbole.json instead of running RecBole")
    p.add_argument("--peer-only", action="store_true", help="run/report the RecBole side only")
    p.add_argument("--our-run", type=Path, default=None, help="read this run directory of ours instead of training")
    args = p.parse_args(argv)

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data_root = args.data_root.resolve()
    t0 = time.perf_counter()
    peer = run_peer(out, data_root, args.budget_s, args.max_epochs, args.seed, args.threads, args.reuse_peer, args.nice)
    ours = None
    if not args.peer_only:
        run_dir = args.our_run
        if run_dir is None:
            budget = args.our_budget_s or (peer["curve"][-1]["wall_s"] if peer["curve"] else args.budget_s)
            run_dir = run_ours(data_root, budget, out)
        ours = parse_our_run(run_dir.resolve())
    report(peer, ours, out)
    print(f"bench_rec: {time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
