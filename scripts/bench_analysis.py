"""BM25 analysis throughput: sparsecli's Lucene-exact analyzer against Snowball stemming and
bm25s's tokenizer, side by side in one process, single thread.

    taskset -c 1 python scripts/bench_analysis.py                 # SciFact corpus (title + text)
    python scripts/bench_analysis.py --corpus <corpus.jsonl> --repeats 5 --json out.json

Each repeat builds a fresh analyzer, so every distinct token is stemmed again (an encode run
pays that once). Rows:
- sparsecli (lucene): the default, Lucene's StandardTokenizer and PorterStemmer, token for
  token (tests/test_lucene_parity.py);
- sparsecli (snowball_porter): the same tokenizer with Snowball's C stemmer, which Lucene's
  output does not match (the default before Lucene parity);
- bm25s: bm25s.tokenize with PyStemmer's English stemmer and English stopwords, a peer that
  does not aim at Lucene's tokens.
Reported: terms per second of each and their ratio to the default.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def best_of(repeats: int, run) -> tuple[float, int]:
    """Best wall time of `repeats` runs and the number of terms a run produces."""
    best, terms = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        terms = run()
        best = min(best, time.perf_counter() - start)
    return best, terms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "data" / "ir" / "scifact" / "beir" / "corpus.jsonl")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from sparsecli.text.analyzer import Analyzer
    from sparsecli.text.config import AnalyzerConfig, StemmerName

    with open(args.corpus, encoding="utf-8") as lines:
        texts = [f"{r.get('title') or ''} {r.get('text') or ''}" for r in map(json.loads, lines)]

    def ours(stemmer: StemmerName):
        def run() -> int:
            analyzer = Analyzer(AnalyzerConfig(stemmer=stemmer))
            return sum(analyzer.bag(text)[1] for text in texts)

        return run

    def peer() -> int:
        import bm25s
        import Stemmer

        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)
        return sum(len(ids) for ids in tokens.ids)

    rows = {
        "sparsecli (lucene)": best_of(args.repeats, ours(StemmerName.porter)),
        "sparsecli (snowball_porter)": best_of(args.repeats, ours(StemmerName.snowball_porter)),
    }
    try:
        rows["bm25s"] = best_of(args.repeats, peer)
    except ImportError:
        print("bm25s is not installed (pip install sparsecli[bench]); its row is left out")
    base = rows["sparsecli (lucene)"]
    result = {"corpus": str(args.corpus), "docs": len(texts), "repeats": args.repeats, "systems": {}}
    for name, (seconds, terms) in rows.items():
        rate = terms / seconds
        result["systems"][name] = {"seconds": round(seconds, 4), "terms": terms, "terms_per_s": round(rate)}
        print(
            f"{name}: {terms:,} terms in {seconds:.3f} s = {rate:,.0f} terms/s ({base[0] / seconds:.2f}x the default's speed)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
