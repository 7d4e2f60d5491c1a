"""Exact search algorithms side by side: term-at-a-time and MaxScore (every
`search.algorithm`), with bm25s as the peer on SciFact BM25; one thread, one process.

    python scripts/bench_exact.py                                 # all collections, k=10,100,1000
    python scripts/bench_exact.py --collections bm25-like --bm25-like-docs 1000000 --k 10

Block-max pruning (BMP over documents reordered by graph bisection) was measured here too and
lost everywhere (README); its code left the product and lives in git history (48100e8).

Collections:
  scifact     SciFact with sparsecli's BM25 vectors (bm25s runs on the same tokens);
  bm25-like   scripts/synthetic.py with short queries (~5.5 terms, weight 1) and documents of
              ~42 terms weighted by IDF, the shape of BM25 over a large collection;
  splade-like scripts/synthetic.py as in bench_search (~120 terms a document, ~30 a query).
Every algorithm must return the same documents and bit-identical scores; the script fails
otherwise. Reported: microseconds a query (best of --repeats, after a warm-up) and speed-up over term-at-a-time.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def bm25_like(n_docs: int, n_queries: int):
    import synthetic

    docs, queries = synthetic.generate(n_docs, n_queries, doc_nnz=45, query_nnz=6)
    docs, queries = synthetic.as_vectors(docs, "d"), synthetic.as_vectors(queries, "q")
    df = np.bincount(np.asarray(docs.indices), minlength=docs.n_cols)
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    weights = np.asarray(docs.data) / 3 * idf[np.asarray(docs.indices)]  # synthetic weights are in (0, 3]
    return docs._replace(data=weights.astype(np.float32)), queries._replace(data=np.ones(queries.nnz, np.float32))


def first_rows(vectors, n: int):
    end = int(vectors.indptr[n])
    return vectors._replace(
        indptr=np.asarray(vectors.indptr[: n + 1]),
        indices=np.asarray(vectors.indices[:end]),
        data=np.asarray(vectors.data[:end]),
        ids=vectors.ids,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collections", default="scifact,bm25-like,splade-like")
    parser.add_argument("--bm25-like-docs", type=int, default=1_000_000)
    parser.add_argument("--splade-like-docs", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--splade-like-queries", type=int, default=50, help="MaxScore is slow on them")
    parser.add_argument("--k", default="10,100,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import numba

    import bench_search
    from sparsecli.retrieval.exact import index as inverted
    from sparsecli.retrieval.exact import search as exact
    from sparsecli.retrieval.exact.config import ExactAlgorithm

    numba.set_num_threads(1)
    records = []
    for collection in args.collections.split(","):
        tokens = None
        if collection == "scifact":
            docs, queries, tokens = bench_search.bm25_collection()
        elif collection == "bm25-like":
            docs, queries = bm25_like(args.bm25_like_docs, args.queries)
        else:
            docs, queries, _ = bench_search.synthetic_collection(args.splade_like_docs, args.splade_like_queries)
            queries = first_rows(queries, min(args.splade_like_queries, queries.n_rows))
        index = inverted.build(docs)
        print(f"== {collection}: {docs.n_rows} docs, {queries.n_rows} queries", flush=True)
        for k in [int(k) for k in args.k.split(",")]:
            times, rankings = {}, {}
            for algorithm in ExactAlgorithm:
                run = functools.partial(exact.search, index, queries, k, algorithm=algorithm)
                run()  # warm-up: compilation, caches
                times[algorithm.value], rankings[algorithm.value] = bench_search.timed(run, args.repeats)
            reference = rankings["taat"]
            for algorithm, ranking in rankings.items():
                same = np.array_equal(ranking.counts, reference.counts) and all(
                    np.array_equal(ranking.docs[q, :c], reference.docs[q, :c])
                    and np.array_equal(ranking.scores[q, :c].view(np.uint32), reference.scores[q, :c].view(np.uint32))
                    for q, c in enumerate(reference.counts)
                )
                if not same:
                    raise SystemExit(f"{collection} k={k}: {algorithm} disagrees with term-at-a-time")
            record = {
                "collection": collection,
                "docs": docs.n_rows,
                "queries": queries.n_rows,
                "k": k,
                **{f"{a}_us": round(1e6 * t / queries.n_rows, 1) for a, t in times.items()},
                **{f"{a}_speedup": round(times["taat"] / t, 3) for a, t in times.items() if a != "taat"},
            }
            if tokens is not None:
                with bench_search.one_core():
                    qps = bench_search.bm25s_qps(tokens, k, args.repeats)
                record["bm25s_us"] = round(1e6 / qps, 1)
                record["taat_vs_bm25s"] = round(record["bm25s_us"] / record["taat_us"], 3)
            records.append(record)
            print(record, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "exact_algorithms", "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
