"""Search speed side by side: sparsecli exact and approximate search against pyseismic-lsr
(and bm25s on BM25), same machine, vectors, thread count and k.

    python scripts/bench_search.py                                   # all three collections
    python scripts/bench_search.py --collections synthetic --synthetic-docs 300000
    python scripts/bench_search.py --collections splade --splade-run runs/encode/<key>
    python scripts/bench_search.py --collections synthetic --query-cuts 4,5,6,8 --heap-factors 0.8,0.9
    python scripts/bench_search.py --collections synthetic --keep-indexes bench/indexes   # build once, resweep
    python scripts/bench_search.py --collections splade --knn 10 --n-knns 0,5,10   # kNN refinement, both systems

Collections:
  bm25       SciFact with sparsecli's BM25 vectors (bm25s runs on the same tokens);
  synthetic  scripts/synthetic.py: vocabulary 30,522, Zipfian terms, topic clusters,
             ~120 nonzeros a document and ~30 a query (--synthetic-docs, 1M by default);
  splade     SciFact encoded with the real splade-tiny checkpoint (an encode run directory,
             made with `sparse encode` and reused from its run directory when it exists).
Both approximate systems get the same build parameters (pyseismic-lsr's defaults) and the
same grid of query_cut x heap_factor; with --knn both also build a kNN graph of that many
neighbours a document (its time counted in the build) and the grid spans n_knn too.
accuracy@10 is measured against exact top-10 on the same vectors. Latency is single-threaded: every thread of this process is pinned to one core
while searches are timed (pyseismic-lsr's batch_search with num_threads=1 still spreads over
~1.6 cores unpinned, which made it look twice as fast); the mean comes from batch calls
(best of --repeats), p50/p99 from one call per query. Peak RSS is the process high-water mark during the build
(reset before each build). Writes <out>/search.json, <out>/search.md and one
<out>/<collection>.png recall-latency curve per collection. The summary compares, for each
accuracy target, each system's fastest grid point at or above it, and the latency at exactly
the target interpolated on each system's accuracy-latency frontier.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "scripts"))

QUERY_CUTS = "2,3,4,5,6,8,10,12,16"
HEAP_FACTORS = "0.3,0.5,0.7,0.8,0.85,0.9,0.95,1.0"  # fine near 0.9: accuracy moves fast there
TARGETS = (0.90, 0.95, 0.99)
SEED = 42  # the k-means seed of the figures in README.md


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def one_core():
    """Pin every thread of the process, thread pools included, to one core; restore after.
    Threads started inside inherit the pin from the thread that starts them."""
    before = os.sched_getaffinity(0)
    core = {min(before)}
    tasks = [int(t) for t in os.listdir("/proc/self/task")]
    for tid in tasks:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, core)
    try:
        yield
    finally:
        for tid in [int(t) for t in os.listdir("/proc/self/task")]:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, before)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


# --------------------------------------------------------------------------- collections


def bm25_collection():
    import bench_bm25

    docs, queries = bench_bm25.load(SHARED / "data/ir/scifact/beir")
    doc_tokens, query_tokens = bench_bm25.tokenize(docs, queries)
    index, query_vectors = bench_bm25.build_ours([d.doc_id for d in docs], doc_tokens, query_tokens, 0.9, 0.4)
    from sparsecli.io.vectors import SparseVectors
    from sparsecli.kernels.csr import transpose

    # Back from the inverted index to document rows: the vectors every system indexes.
    ptr, rows, weights = transpose(index.term_ptr, index.post_docs, index.post_weights, index.n_docs)
    doc_vectors = SparseVectors(ptr, rows, weights, index.doc_ids, index.n_terms)
    return doc_vectors, query_vectors, (doc_tokens, query_tokens)


def synthetic_collection(n_docs: int, n_queries: int):
    import synthetic

    docs, queries = synthetic.generate(n_docs, n_queries)
    return synthetic.as_vectors(docs, "d"), synthetic.as_vectors(queries, "q"), None


def splade_collection(run: Path | None):
    from sparsecli.io.vectors import load_vectors

    if run is None:
        command = [
            str(Path(sys.executable).parent / "sparse"),
            "encode",
            "data=scifact",
            "encoder=splade",
            f"encoder.model={SHARED / 'models' / 'splade-tiny'}",
            f"data_root={SHARED / 'data'}",
        ]
        run = Path(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return load_vectors(run / "docs"), load_vectors(run / "queries"), None


# --------------------------------------------------------------------------- systems


def rows(vectors, i):
    lo, hi = vectors.indptr[i], vectors.indptr[i + 1]
    return np.asarray(vectors.indices[lo:hi]), np.asarray(vectors.data[lo:hi], dtype=np.float32)


def accuracy(found: list[list[int]], truth, k=10) -> float:
    scores = []
    for q, docs in enumerate(found):
        expected = set(truth.docs[q, : min(k, truth.counts[q])].tolist())
        scores.append(len(expected & set(docs[:k])) / len(expected) if expected else 1.0)
    return float(np.mean(scores))


class Ours:
    name = "sparsecli-approx"

    def __init__(self, knn: int = 0):
        self.knn = knn

    def build(self, docs, folder: Path):
        from sparsecli.retrieval.seismic import build, index
        from sparsecli.retrieval.seismic.config import SeismicIndexConfig

        index.save(build.build(docs, SeismicIndexConfig(knn=self.knn), SEED), folder)
        return self.load(folder)  # memory-mapped, as served: the built arrays leave RSS

    def load(self, folder: Path):
        from sparsecli.retrieval.seismic import index

        return index.load(folder)

    def searcher(self, index):
        from sparsecli.retrieval.seismic.search import Searcher

        return Searcher(index, threads=1)

    def batch(self, searcher, queries, k, cut, factor, n_knn):
        from sparsecli.retrieval.seismic.config import ApproxSearchConfig

        ranking, _ = searcher.search(queries, k, ApproxSearchConfig(query_cut=cut, heap_factor=factor, n_knn=n_knn))
        return [ranking.docs[q, : ranking.counts[q]].tolist() for q in range(queries.n_rows)]

    def one(self, searcher, queries, q, k, cut, factor, n_knn):
        from sparsecli.retrieval.seismic.config import ApproxSearchConfig

        terms, weights = rows(queries, q)
        params = ApproxSearchConfig(query_cut=cut, heap_factor=factor, n_knn=n_knn)
        return [searcher.search_one(terms.astype(np.int64), weights, k, params)[0].tolist()]


class PySeismic:
    name = "pyseismic-lsr"

    def __init__(self, knn: int = 0):
        self.knn = knn

    def build(self, docs, folder: Path):
        import seismic

        dataset = seismic.SeismicDataset()
        dataset.add_documents_by_id(
            [str(i) for i in range(docs.n_rows)],
            np.asarray(docs.indices, dtype=np.int64),
            np.asarray(docs.data, dtype=np.float32),
            np.asarray(docs.indptr, dtype=np.int64),
        )
        index = seismic.SeismicIndex.build_from_dataset(dataset, nknn=self.knn, num_threads=0)
        folder.mkdir(parents=True, exist_ok=True)
        index.save(str(folder / "index"))
        return index

    def load(self, folder: Path):
        import seismic

        return seismic.SeismicIndex.load(str(folder / "index.index.seismic"))

    def searcher(self, index):
        return index

    def _query(self, queries, q):
        import seismic

        terms, weights = rows(queries, q)
        return np.array([str(t) for t in terms], dtype=seismic.get_seismic_string()), weights

    def batch(self, index, queries, k, cut, factor, n_knn):
        import seismic

        prepared = [self._query(queries, q) for q in range(queries.n_rows)]
        ids = np.array([str(q) for q in range(queries.n_rows)], dtype=seismic.get_seismic_string())
        results = index.batch_search(
            ids, [p[0] for p in prepared], [p[1] for p in prepared], k, cut, factor, n_knn=n_knn, num_threads=1
        )
        by_query = {r[0][0]: [int(d) for _, _, d in r] for r in results if r}  # results are not in input order
        return [by_query.get(str(q), []) for q in range(queries.n_rows)]

    def one(self, index, queries, q, k, cut, factor, n_knn):
        terms, weights = self._query(queries, q)
        return [[int(d) for _, _, d in index.search(str(q), terms, weights, k, cut, factor, n_knn=n_knn)]]


def timed(fn, repeats):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def sweep(systems, queries, truth, k, repeats, latency_queries, grid):
    """Every grid point for every system; at each point the systems take turns, repeat after
    repeat, so that load drifting on a shared machine hits them alike. Mean latency: best
    batch of the repeats; p50/p99: one call per query for the first latency_queries."""
    searchers = [(system, system.searcher(index)) for system, index in systems]
    for system, searcher in searchers:
        system.batch(searcher, queries, k, 5, 0.9, 0)  # warm-up (JIT compilation, page cache)
    records = []
    for cut, factor, n_knn in grid:
        best = {system.name: (float("inf"), None) for system, _ in searchers}
        for _ in range(repeats):
            for system, searcher in searchers:
                start = time.perf_counter()
                found = system.batch(searcher, queries, k, cut, factor, n_knn)
                seconds = time.perf_counter() - start
                if seconds < best[system.name][0]:
                    best[system.name] = (seconds, found)
        for system, searcher in searchers:
            singles = []
            for q in range(min(latency_queries, queries.n_rows)):
                start = time.perf_counter()
                system.one(searcher, queries, q, k, cut, factor, n_knn)
                singles.append(time.perf_counter() - start)
            seconds, found = best[system.name]
            records.append(
                {
                    "system": system.name,
                    "query_cut": cut,
                    "heap_factor": factor,
                    "n_knn": n_knn,
                    "accuracy@10": round(accuracy(found, truth), 4),
                    "latency_mean_us": round(1e6 * seconds / queries.n_rows, 1),
                    "latency_p50_us": round(1e6 * float(np.percentile(singles, 50)), 1),
                    "latency_p99_us": round(1e6 * float(np.percentile(singles, 99)), 1),
                    "qps": round(queries.n_rows / seconds, 1),
                }
            )
            print(records[-1], flush=True)
    return records


def fastest_at(records, target):
    ok = [r for r in records if r["accuracy@10"] >= target]
    return min(ok, key=lambda r: r["latency_mean_us"]) if ok else None


def frontier_latency_at(records, target):
    """Mean latency at exactly `target` accuracy, linearly interpolated between the two grid
    points of the accuracy-latency frontier around it: a figure for the curve itself, less at
    the mercy of where each system's grid happens to cross the target than fastest_at."""
    frontier = [
        r
        for r in records
        if not any(
            o["accuracy@10"] >= r["accuracy@10"] and o["latency_mean_us"] < r["latency_mean_us"] for o in records
        )
    ]
    above = [r for r in frontier if r["accuracy@10"] >= target]
    below = [r for r in frontier if r["accuracy@10"] < target]
    if not above or not below:
        return None
    hi = min(above, key=lambda r: r["accuracy@10"])
    lo = max(below, key=lambda r: r["accuracy@10"])
    share = (target - lo["accuracy@10"]) / (hi["accuracy@10"] - lo["accuracy@10"])
    return round(lo["latency_mean_us"] + share * (hi["latency_mean_us"] - lo["latency_mean_us"]), 1)


def mmap_rss(folder: Path) -> dict:
    """RSS added by opening the index memory-mapped, in a fresh process."""
    code = (
        "import sys, numpy as np; from pathlib import Path; from sparsecli.retrieval.seismic import index as seismic\n"
        "def rss(): return int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]) * 1024\n"
        "before = rss(); index = seismic.load(Path(sys.argv[1])); print(rss() - before)\n"
    )
    added = int(
        subprocess.run([sys.executable, "-c", code, str(folder)], check=True, capture_output=True, text=True).stdout
    )
    size = folder_bytes(folder)
    return {"index_bytes": size, "rss_after_load_bytes": added, "ratio": round(added / size, 4)}


def plot(collection: str, records: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for system in sorted({r["system"] for r in records}):
        points = sorted((r["latency_mean_us"], r["accuracy@10"]) for r in records if r["system"] == system)
        frontier, best = [], -1.0
        for latency, acc in points:  # the Pareto frontier: each point beats every faster one
            if acc > best:
                frontier.append((latency, acc))
                best = acc
        ax.plot(*zip(*frontier), marker="o", label=system)
    ax.set_xscale("log")
    ax.set_xlabel("mean latency per query, 1 thread (us)")
    ax.set_ylabel("accuracy@10 vs exact")
    ax.set_title(collection)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{collection}.png", dpi=120)
    plt.close(fig)


def bm25s_qps(tokens, k, repeats) -> float:
    import bm25s

    doc_tokens, query_tokens = tokens
    retriever = bm25s.BM25(method="lucene", k1=0.9, b=0.4, backend="numba")
    retriever.index(doc_tokens, show_progress=False)
    known = [[t for t in q if t in retriever.vocab_dict] or [""] for q in query_tokens]
    retriever.retrieve(known, k=k, n_threads=1, show_progress=False)
    seconds, _ = timed(lambda: retriever.retrieve(known, k=k, n_threads=1, show_progress=False), repeats)
    return len(known) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="bm25,synthetic,splade")
    parser.add_argument("--synthetic-docs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000, help="synthetic queries")
    parser.add_argument("--splade-run", type=Path, default=None)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--query-cuts", default=QUERY_CUTS, help="grid: comma-separated query_cut values")
    parser.add_argument("--heap-factors", default=HEAP_FACTORS, help="grid: comma-separated heap_factor values")
    parser.add_argument("--knn", type=int, default=0, help="neighbours a document in both systems' kNN graphs")
    parser.add_argument(
        "--n-knns", default=None, help="grid: comma-separated n_knn values (default 0, and --knn when set)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "search")
    parser.add_argument(
        "--keep-indexes",
        type=Path,
        default=None,
        help="build the approximate indexes here and reuse them (with their build records) when present",
    )
    args = parser.parse_args()
    n_knns = args.n_knns or ("0" if not args.knn else f"0,{args.knn}")
    grid = [
        (int(c), float(h), int(n))
        for c in args.query_cuts.split(",")
        for h in args.heap_factors.split(",")
        for n in n_knns.split(",")
    ]

    import numba

    from sparsecli.retrieval.exact import index as inverted
    from sparsecli.retrieval.exact import search as exact

    numba.set_num_threads(1)  # single-threaded latency; builds use all cores (below)
    args.out.mkdir(parents=True, exist_ok=True)
    warm_docs, _, _ = synthetic_collection(2000, 10)  # compile (or load) every kernel before timing builds
    with tempfile.TemporaryDirectory() as scratch:
        Ours().build(warm_docs, Path(scratch) / "warm")
    all_records, summary = [], {}
    for collection in args.collections.split(","):
        loaders = {
            "bm25": bm25_collection,
            "synthetic": lambda: synthetic_collection(args.synthetic_docs, args.queries),
            "splade": lambda: splade_collection(args.splade_run),
        }
        docs, queries, tokens = loaders[collection]()
        print(f"== {collection}: {docs.n_rows} docs ({docs.nnz} nnz), {queries.n_rows} queries", flush=True)
        exact_index = inverted.build(docs)
        with one_core():
            exact.search(exact_index, queries, args.k)
            seconds, truth = timed(lambda index=exact_index, q=queries: exact.search(index, q, args.k), args.repeats)
        records = [
            {
                "system": "sparsecli-exact",
                "accuracy@10": 1.0,
                "latency_mean_us": round(1e6 * seconds / queries.n_rows, 1),
                "qps": round(queries.n_rows / seconds, 1),
            }
        ]
        if tokens is not None:
            with one_core():
                qps = bm25s_qps(tokens, args.k, args.repeats)
            records.append(
                {"system": "bm25s", "accuracy@10": 1.0, "latency_mean_us": round(1e6 / qps, 1), "qps": round(qps, 1)}
            )
        builds, built = {}, []
        with tempfile.TemporaryDirectory() as scratch:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            name = f"{collection}-{docs.n_rows}" + (f"-knn{args.knn}" if args.knn else "")
            base = args.keep_indexes / name if args.keep_indexes else Path(scratch)
            base.mkdir(parents=True, exist_ok=True)
            for system in (Ours(args.knn), PySeismic(args.knn)):
                folder, record = base / system.name, base / f"{system.name}.build.json"
                if record.exists():  # a kept index: its build record comes from the run that built it
                    index = system.load(folder)
                    builds[system.name] = json.loads(record.read_text())
                else:
                    reset_peak_rss()  # the high-water mark covers one build: ours comes first
                    start = time.perf_counter()
                    index = system.build(docs, folder)
                    builds[system.name] = {
                        "build_s": round(time.perf_counter() - start, 2),
                        "index_bytes": folder_bytes(folder),
                        "peak_rss_bytes": peak_rss(),
                    }
                    record.write_text(json.dumps(builds[system.name]) + "\n")
                print(system.name, builds[system.name], flush=True)
                built.append((system, index))
            builds["mmap"] = mmap_rss(base / Ours.name)
            numba.set_num_threads(1)
            with one_core():
                swept = sweep(built, queries, truth, args.k, args.repeats, args.latency_queries, grid)
            records += [{**record, **builds[record["system"]]} for record in swept]
            del built
        for r in records:
            r["collection"] = collection
        all_records += records
        plot(collection, [r for r in records if "query_cut" in r], args.out)
        ours = [r for r in records if r["system"] == "sparsecli-approx"]
        theirs = [r for r in records if r["system"] == "pyseismic-lsr"]
        summary[collection] = {
            "docs": docs.n_rows,
            "builds": builds,
            "build_time_ratio": round(builds["sparsecli-approx"]["build_s"] / builds["pyseismic-lsr"]["build_s"], 3),
            "index_size_ratio": round(
                builds["sparsecli-approx"]["index_bytes"] / builds["pyseismic-lsr"]["index_bytes"], 3
            ),
            "exact_qps": records[0]["qps"],
            "bm25s_qps": next((r["qps"] for r in records if r["system"] == "bm25s"), None),
        }
        for target in TARGETS:
            a, b = fastest_at(ours, target), fastest_at(theirs, target)
            x, y = frontier_latency_at(ours, target), frontier_latency_at(theirs, target)
            summary[collection][f"at_{target}"] = {
                "sparsecli": a,
                "pyseismic": b,
                "latency_ratio": round(a["latency_mean_us"] / b["latency_mean_us"], 3) if a and b else None,
                "frontier_us": {"sparsecli": x, "pyseismic": y},
                "frontier_latency_ratio": round(x / y, 3) if x and y else None,
            }
        print(json.dumps(summary[collection], indent=1), flush=True)
    (args.out / "search.json").write_text(json.dumps({"summary": summary, "records": all_records}, indent=1) + "\n")
    lines = [
        "| collection | system | query_cut | heap_factor | n_knn | accuracy@10 | mean us | p50 us | p99 us | QPS | build s | index MB | peak RSS MB |",
        "|" + "---|" * 13,
    ]
    for r in all_records:
        lines.append(
            f"| {r['collection']} | {r['system']} | {r.get('query_cut', '')} | {r.get('heap_factor', '')} | {r.get('n_knn', '')} | {r['accuracy@10']} | "
            f"{r['latency_mean_us']} | {r.get('latency_p50_us', '')} | {r.get('latency_p99_us', '')} | {r['qps']} | {r.get('build_s', '')} | "
            f"{round(r['index_bytes'] / 1e6, 1) if 'index_bytes' in r else ''} | {round(r['peak_rss_bytes'] / 1e6, 1) if 'peak_rss_bytes' in r else ''} |"
        )
    (args.out / "search.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}/search.json, search.md and PNGs", file=sys.stderr)


if __name__ == "__main__":
    main()
