"""BM25 query throughput: sparsecli's exact search against bm25s, side by side in one process.

    python scripts/bench_bm25.py                                  # SciFact from ../shared/data
    python scripts/bench_bm25.py --data <beir folder> --k 10,1000 --repeats 5 --json out.json

Both systems get the same tokenized collection (sparsecli's default analyzer: Lucene-style
tokenizer, English stopwords, Porter stemming), the same BM25 (Lucene variant, k1=0.9,
b=0.4, exact document lengths on both sides) and the same k. Timed: retrieval of all
queries in queries.jsonl (tokenization excluded), best of --repeats, at one thread and at
all threads, for each k. Reported: queries/s of each system and their ratio, plus top-10
agreement, and CPU time over wall time (1.0 at one thread checks that it really was one).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/data/ir/scifact/beir"


def load(folder: Path):
    from sparsecli.data import beir
    from sparsecli.io.textfile import find_file

    docs = list(beir.read_docs(find_file(folder, "corpus.jsonl")))
    queries = list(beir.read_queries(find_file(folder, "queries.jsonl")))
    return docs, queries


def tokenize(docs, queries):
    from sparsecli.text.config import AnalyzerConfig
    from sparsecli.encode.context import document_text
    from sparsecli.text.analyzer import Analyzer

    analyzer = Analyzer(AnalyzerConfig())
    doc_tokens = [analyzer(document_text(d.title, d.text, ["title", "text"])) for d in docs]
    query_tokens = [analyzer(q.text) for q in queries]
    return doc_tokens, query_tokens


def build_ours(doc_ids, doc_tokens, query_tokens, k1, b):
    from collections import Counter

    from sparsecli.encode.bm25.config import BM25Config
    from sparsecli.encode.bm25.encoder import weigh
    from sparsecli.encode.bm25.terms import count_corpus, count_queries
    from sparsecli.retrieval.exact import index as inverted
    from sparsecli.io.arrays import StringArray
    from sparsecli.io.vectors import SparseVectors

    def bag(tokens):
        counts = Counter(tokens)
        return dict(counts), len(tokens)

    counts, vocab = count_corpus(zip(doc_ids, doc_tokens), bag, lambda n: None)
    config = BM25Config(k1=k1, b=b, lucene_norms=False)  # bm25s uses exact lengths
    weights, _ = weigh(counts, len(vocab), config)
    docs = SparseVectors(counts.indptr, counts.indices, weights, StringArray.pack(doc_ids), len(vocab))
    query_counts, _ = count_queries(
        ((str(i), t) for i, t in enumerate(query_tokens)), bag, {t: i for i, t in enumerate(vocab)}
    )
    queries = SparseVectors(
        query_counts.indptr, query_counts.indices, query_counts.counts.astype(np.float32), query_counts.ids, len(vocab)
    )
    return inverted.build(docs), queries


def time_best(fn, repeats):
    """Best wall time of `repeats` calls, that call's CPU time over its wall time, its result."""
    fn()  # warm-up: JIT compilation and caches
    best, cpu_ratio = float("inf"), 0.0
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu_ratio = wall, round((time.process_time() - cpu) / wall, 2)
    return best, cpu_ratio, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--k", default="10,100,1000", help="comma-separated depths")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--k1", type=float, default=0.9)
    parser.add_argument("--b", type=float, default=0.4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import bm25s
    import numba

    from sparsecli.retrieval.exact.search import search

    docs, queries = load(args.data)
    doc_tokens, query_tokens = tokenize(docs, queries)
    doc_ids = [d.doc_id for d in docs]
    index, query_vectors = build_ours(doc_ids, doc_tokens, query_tokens, args.k1, args.b)

    retriever = bm25s.BM25(method="lucene", k1=args.k1, b=args.b, backend="numba")
    retriever.index(doc_tokens, show_progress=False)
    vocab = retriever.vocab_dict
    # bm25s needs at least one known token per query; queries with none score nothing in either.
    bm25s_queries = [[t for t in q if t in vocab] or [""] for q in query_tokens]

    all_threads = numba.config.NUMBA_NUM_THREADS
    records = []
    for k, threads in [(min(int(k), len(docs)), t) for k in args.k.split(",") for t in sorted({1, all_threads})]:
        numba.set_num_threads(threads)
        ours_s, ours_cpu, ranking = time_best(lambda k=k: search(index, query_vectors, k), args.repeats)
        theirs_s, theirs_cpu, (their_docs, _) = time_best(
            lambda k=k, threads=threads: retriever.retrieve(bm25s_queries, k=k, n_threads=threads, show_progress=False),
            args.repeats,
        )
        agree = np.mean(
            [
                len(set(ranking.docs[q, :10].tolist()) & set(their_docs[q, :10].tolist()))
                / max(1, min(10, ranking.counts[q]))
                for q in range(len(queries))
                if ranking.counts[q] > 0
            ]
        )
        record = {
            "threads": threads,
            "queries": len(queries),
            "docs": len(docs),
            "k": k,
            "sparsecli_qps": len(queries) / ours_s,
            "bm25s_qps": len(queries) / theirs_s,
            "ratio": theirs_s / ours_s,
            "top10_agreement": float(agree),
            "sparsecli_cpu_per_wall": ours_cpu,
            "bm25s_cpu_per_wall": theirs_cpu,
        }
        records.append(record)
        print(
            f"k={k} threads={threads}: sparsecli {record['sparsecli_qps']:,.0f} q/s, bm25s {record['bm25s_qps']:,.0f} q/s, "
            f"ratio {record['ratio']:.2f}x, top-10 agreement {agree:.4f}, "
            f"cpu/wall {ours_cpu:.2f} vs {theirs_cpu:.2f}"
        )
    result = {
        "benchmark": "bm25_query_throughput",
        "data": str(args.data),
        "bm25s_version": bm25s.__version__,
        "cpu_count": os.cpu_count(),
        "records": records,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
