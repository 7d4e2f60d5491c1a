"""Sharded encoding: the same bytes for any number and kind of workers, and what they buy.

    python scripts/bench_workers.py                          # splade-tiny on SciFact, 1/2/3 processes
    python scripts/bench_workers.py --workers 1,2,3,torchrun:2,ray:2 --json bench/workers.json

Runs `sparse encode` once per setting, each into its own runs_root (no cache hits), with the
same threads per worker: N is `runtime.workers=N` (processes), torchrun:N is N torchrun
ranks (`torchrun --standalone --nproc_per_node=N -m sparsecli encode ...`), ray:N is
`runtime.backend=ray runtime.workers=N` (a local Ray cluster; needs the `ray` extra).
Prints the sha256 of every file of docs/ and queries/ per setting, whether they agree, and
documents/s with the speed-up over the first setting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def digest(run: Path) -> dict:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for side in ("docs", "queries")
        for p in sorted((run / side).iterdir())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="scifact")
    parser.add_argument("--data-root", default=str(SHARED / "data"))
    parser.add_argument("--model", default=str(SHARED / "models" / "splade-tiny"))
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (the same for every N)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("overrides", nargs="*", help="more settings for every run, e.g. encoder.batch_size=16")
    args = parser.parse_args()
    sparse = Path(sys.executable).parent / "sparse"
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
        for setting in args.workers.split(","):
            kind, _, count = setting.rpartition(":")
            n = int(count)
            launch, workers = [str(sparse)], [f"runtime.workers={n}"]
            if kind == "torchrun":
                launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                          "-m", "sparsecli"]  # fmt: skip
                workers = []
            elif kind == "ray":
                workers.append("runtime.backend=ray")
            command = [*launch, "encode", f"data={args.data}", f"data_root={args.data_root}", "encoder=splade",
                       f"encoder.model={args.model}", *workers, f"runtime.threads={args.threads}",
                       f"runs_root={scratch}/{setting.replace(':', '-')}", "runtime.progress=none",
                       *args.overrides]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(
                    f"{setting} failed (status {done.returncode}): {(done.stderr.strip() or '?').splitlines()[-1]}"
                )
            run = Path(done.stdout.strip().splitlines()[-1])
            docs = json.loads((run / "manifest.json").read_text())["docs"]["rows"]
            encode_s = json.loads((run / "meta.json").read_text())["timings_s"]["encode"]
            results.append({"workers": setting, "wall_s": round(wall, 1), "encode_s": encode_s,
                            "docs_per_s": round(docs / encode_s, 2), "sha256": digest(run)})  # fmt: skip
            print(f"{setting}: {docs} docs, encode {encode_s:.1f} s ({docs / encode_s:.1f} docs/s), wall {wall:.1f} s",
                  file=sys.stderr)  # fmt: skip
    first = results[0]
    identical = all(r["sha256"] == first["sha256"] for r in results)
    print(f"{'file':<28}" + "".join(f"{r['workers']:<14}" for r in results))
    for name in first["sha256"]:
        print(f"{name:<28}" + "".join(f"{r['sha256'][name][:12]:<14}" for r in results))
    print(f"byte-identical: {identical}")
    for r in results:
        print(f"{r['workers']}: {r['docs_per_s']} docs/s, {first['encode_s'] / r['encode_s']:.2f}x {first['workers']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"identical": identical, "runs": results}, indent=2) + "\n")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
