"""Pruning: parity with independent reference computations, pruning cost, and the CPU speed of
pruned Linear layers stored as CSR against dense.

    python scripts/bench_prune.py                                   # parity + CSR speed
    python scripts/bench_prune.py --model ../shared/models/splade-tiny --data-root ../shared/data

1. Parity, on fixed random weights and calibration activations, against
   tests/reference_pruning.py (numpy float64, written from the papers apart from the package):
   Wanda's mask (agreement, and floor(s * cols) pruned per row), N:M validity, SparseGPT's
   mask and reconstructed weights (max abs difference), ERK densities.
2. Cost (with --model): `sparse prune ... sparsity.criterion=wanda` at 50% on SciFact
   calibration documents: wall time per phase and peak resident memory, from the run's meta.json.
3. CSR speed: a 4096 x 4096 Linear pruned by magnitude to 50..95%, batch 32, float32, the
   configured threads: dense F.linear against torch.sparse CSR (`to_sparse_csr()`, the bare
   product) and ours (sparsity/csr.py CSRLinear, the exported layer: the same product plus the
   transposes a Linear's layout needs), medians of --pairs interleaved rounds (dense, torch CSR, ours,
   dense, ...) after one unmeasured call of each. speedup_* is dense time / CSR time: below 1 the
   CSR product is slower than dense, and is reported as such.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def parity() -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import reference_pruning as ref

    from sparsecli.sparsity import allocation, criteria, sparsegpt, structure

    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 256)).astype(np.float32)
    x = (rng.standard_normal((512, 256)) * rng.uniform(0.1, 3.0, 256)).astype(np.float32)
    stats = criteria.FeatureStats(256, hessian=True)
    stats.add(torch.from_numpy(x))
    scores = criteria.wanda(torch.from_numpy(w), stats.sq_norms)
    out: dict = {}
    keep = structure.per_row(scores, 0.5).numpy()
    out["wanda_50_agreement"] = float((keep == ref.wanda_keep(w, x, 0.5)).mean())
    out["wanda_50_rows_exact"] = bool((keep.shape[1] - keep.sum(1) == 128).all())
    nm = structure.n_m(scores, 2, 4)
    out["wanda_2:4_agreement"] = float((nm.numpy() == ref.wanda_nm_keep(w, x, 2, 4)).mean())
    out["wanda_2:4_valid"] = structure.is_n_m(nm, 2, 4)
    for label, sparsity, pattern in (("sparsegpt_50", 0.5, None), ("sparsegpt_2:4", None, (2, 4))):
        ours = sparsegpt.prune(torch.from_numpy(w), stats.gram, sparsity or 0.0, pattern)
        weights, mask = ref.sparsegpt(w, x, sparsity=sparsity, nm=pattern)
        out[f"{label}_mask_equal"] = bool((ours.keep.numpy() == mask).all())
        out[f"{label}_max_abs_diff"] = float(np.abs(ours.weight.numpy() - weights).max())
    shapes = {"a": (256, 512), "b": (512, 512), "c": (10, 512), "d": (64, 3, 3, 3)}
    out["erk_max_abs_diff"] = max(
        abs(allocation.erdos_renyi(shapes, d)[k] - ref.erk_densities(shapes, d)[k])
        for d in (0.05, 0.2, 0.5, 0.9)
        for k in shapes
    )
    return out


def cost(model: str, data_root: str, threads: int) -> dict:
    command = [
        str(Path(sys.executable).with_name("sparse")), "prune", f"checkpoint={model}", "data=scifact",
        f"data_root={data_root}", "sparsity.criterion=wanda", "sparsity.sparsity=0.5", f"runtime.threads={threads}",
        "runtime.force=true", "runtime.progress=none",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    run = Path(done.stdout.strip().splitlines()[-1])
    meta = json.loads((run / "meta.json").read_text())
    return {
        "run": str(run),
        "wall_s": round(wall, 2),
        "timings_s": meta["timings_s"],
        "peak_rss_bytes": meta["peak_rss_bytes"],
    }


def _torch_csr(csr: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (csr @ x.T).T


def csr_speed(threads: int, pairs: int) -> list[dict]:
    from sparsecli.kernels import set_threads
    from sparsecli.sparsity import structure
    from sparsecli.sparsity.csr import CSRLinear, to_csr

    torch.set_num_threads(threads)
    set_threads(threads)
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(4096, 4096, generator=generator)
    x = torch.randn(32, 4096, generator=generator)
    rows = []
    for sparsity in (0.5, 0.7, 0.8, 0.9, 0.95):
        keep = structure.per_layer(weight.abs(), sparsity)
        pruned = weight * keep
        csr = pruned.to_sparse_csr()
        ours = CSRLinear(to_csr(pruned, keep))
        products = {
            "dense": partial(torch.nn.functional.linear, x, pruned),
            "torch_csr": partial(_torch_csr, csr, x),
            "ours": partial(ours, x),
        }
        times: dict[str, list[float]] = {label: [] for label in products}
        with torch.no_grad():
            dense_out = products["dense"]()
            for label in ("torch_csr", "ours"):  # the unmeasured call of each, checked
                assert torch.allclose(dense_out, products[label](), atol=1e-3), label
            for _ in range(pairs):
                for label, product in products.items():
                    start = time.perf_counter()
                    product()
                    times[label].append(time.perf_counter() - start)
        ms = {label: 1000 * statistics.median(t) for label, t in times.items()}
        rows.append(
            {
                "sparsity": sparsity,
                "dense_ms": round(ms["dense"], 3),
                "torch_csr_ms": round(ms["torch_csr"], 3),
                "ours_ms": round(ms["ours"], 3),
                # < 1: slower than dense
                "speedup_torch_csr": round(ms["dense"] / ms["torch_csr"], 2),
                "speedup_ours": round(ms["dense"] / ms["ours"], 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model", action="append", default=[], help="a checkpoint folder to time `sparse prune` on (repeatable)"
    )
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    report = {"parity": parity()}
    if args.model:
        report["cost"] = {Path(model).name: cost(model, args.data_root, args.threads) for model in args.model}
    report["csr_vs_dense"] = csr_speed(args.threads, args.pairs)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
