"""A BM25 run against Lucene's own SciFact run (Anserini 0.22.1, Lucene 9.5, k1=0.9, b=0.4, flat),
query by query: the documents above each query's 100th score, and their scores.

    make scifact                                   # prints the eval table; the run is runs/search/<key>
    python scripts/lucene_parity.py runs/search/<key>/run.trec

Ties at the 100th score may be cut differently by the two systems, so only the documents
scoring strictly above it must agree. Prints the number of queries whose sets differ and the
largest relative score difference.
"""

from __future__ import annotations

import argparse
import gzip
from collections import defaultdict
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared/data/ir/scifact/lucene-reference"


def read_run(path: Path) -> dict[str, list[tuple[float, str]]]:
    run: dict[str, list[tuple[float, str]]] = defaultdict(list)
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            query, _, doc, _, score, _ = line.split()
            run[query].append((float(score), doc))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--reference", type=Path, default=REFERENCE / "bm25-flat.test.top100.trec.gz")
    parser.add_argument("--rel", type=float, default=1e-5, help="relative margin for 'strictly above'")
    args = parser.parse_args()
    ours, lucene = read_run(args.run), read_run(args.reference)
    differing, worst, missing = [], 0.0, 0
    for query, rows in lucene.items():
        floor = min(score for score, _ in rows) * (1 + args.rel)
        scores = {doc: score for score, doc in ours.get(query, [])}
        if {doc for score, doc in rows if score > floor} != {doc for doc, score in scores.items() if score > floor}:
            differing.append(query)
        for score, doc in rows:
            if doc in scores:
                worst = max(worst, abs(scores[doc] - score) / score)
            else:
                missing += 1
    print(
        f"{len(lucene)} queries; documents above the 100th score differ for {len(differing)} "
        f"{differing[:5] if differing else ''}; largest relative score difference {worst:.2e}; "
        f"Lucene's documents missing from the run: {missing}"
    )


if __name__ == "__main__":
    main()
