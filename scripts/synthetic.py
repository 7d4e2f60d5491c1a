"""A synthetic collection with SPLADE-like statistics, for benchmarks at any size.

    python scripts/synthetic.py --docs 1000000 --out bench/synthetic   # writes docs/ and queries/

- vocabulary 30,522 (BERT's), term popularity Zipfian over a random permutation of the ids;
- topic clusters: each document and query draws most terms from one of n_topics topics
  (a few hundred popular-biased terms each) and the rest from the global distribution;
- about 120 nonzeros per document and 30 per query; weights log-normal, topical terms
  heavier, in SPLADE's range (0, 3].

Deterministic for a seed, whatever the thread count: every chunk of rows reseeds numba's
generator from (seed, chunk).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numba as nb
import numpy as np

VOCAB = 30522
CHUNK = 4096


def _popularity(vocab: int, zipf: float, rng: np.random.Generator) -> np.ndarray:
    p = np.arange(1, vocab + 1, dtype=np.float64) ** -zipf
    out = np.empty(vocab)
    out[rng.permutation(vocab)] = p / p.sum()
    return out


@nb.njit(cache=True, parallel=True)
def _rows(n_rows, nnz, topical_fraction, topic_cdf, topic_terms, global_cdf, seed, salt, max_weight):
    n_chunks = (n_rows + 4095) // 4096
    lengths = np.empty(n_rows, dtype=np.int64)
    for chunk in nb.prange(n_chunks):
        np.random.seed(seed * 1_000_003 + salt * 7919 + chunk)
        for r in range(chunk * 4096, min((chunk + 1) * 4096, n_rows)):
            lengths[r] = max(4, int(nnz * (0.75 + 0.5 * np.random.random())))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(lengths)
    indices = np.empty(indptr[-1], dtype=np.int32)
    data = np.empty(indptr[-1], dtype=np.float32)
    kept = np.zeros(n_rows, dtype=np.int64)
    n_topics = topic_terms.shape[0]
    for chunk in nb.prange(n_chunks):
        np.random.seed(seed * 1_000_003 + salt * 7919 + n_chunks + chunk)
        for r in range(chunk * 4096, min((chunk + 1) * 4096, n_rows)):
            topic = np.random.randint(n_topics)
            lo = indptr[r]
            n = lengths[r]
            terms = np.empty(n, dtype=np.int64)
            weights = np.empty(n, dtype=np.float32)
            for j in range(n):
                if np.random.random() < topical_fraction:
                    slot = np.searchsorted(topic_cdf, np.random.random())
                    terms[j] = topic_terms[topic, min(slot, topic_terms.shape[1] - 1)]
                    weights[j] = np.exp(np.random.normal(0.0, 0.5))
                else:
                    terms[j] = min(np.searchsorted(global_cdf, np.random.random()), len(global_cdf) - 1)
                    weights[j] = 0.3 * np.exp(np.random.normal(0.0, 0.5))
            order = np.argsort(terms, kind="mergesort")
            m = 0
            previous = -1
            for j in order:  # duplicates keep their largest weight
                if terms[j] == previous:
                    data[lo + m - 1] = max(data[lo + m - 1], min(weights[j], max_weight))
                    continue
                previous = terms[j]
                indices[lo + m] = terms[j]
                data[lo + m] = min(weights[j], max_weight)
                m += 1
            kept[r] = m
    return indptr, indices, data, kept


def _compact(indptr, indices, data, kept):
    new_ptr = np.zeros_like(indptr)
    np.cumsum(kept, out=new_ptr[1:])
    mask = np.arange(indptr[-1]) - np.repeat(indptr[:-1], np.diff(indptr)) < np.repeat(kept, np.diff(indptr))
    return new_ptr, indices[mask], data[mask]


def generate(
    n_docs: int,
    n_queries: int,
    seed: int = 0,
    n_topics: int = 2000,
    topic_size: int = 1000,
    zipf: float = 1.0,
    doc_nnz: int = 135,  # drawn with replacement and deduplicated: about 120 remain
    query_nnz: int = 32,  # about 30 remain
):
    """(doc CSR, query CSR) as (indptr, indices, data) triples over a 30,522-term vocabulary."""
    rng = np.random.default_rng(seed)
    popularity = _popularity(VOCAB, zipf, rng)
    global_cdf = np.cumsum(popularity)
    topic_terms = np.stack([rng.choice(VOCAB, size=topic_size, replace=False, p=popularity) for _ in range(n_topics)])
    within = np.arange(1, topic_size + 1, dtype=np.float64) ** -0.5  # a topic's own terms: mildly skewed
    topic_cdf = np.cumsum(within / within.sum())
    docs = _compact(*_rows(n_docs, doc_nnz, 0.7, topic_cdf, topic_terms, global_cdf, seed, 1, np.float32(3.0)))
    queries = _compact(*_rows(n_queries, query_nnz, 0.8, topic_cdf, topic_terms, global_cdf, seed, 2, np.float32(3.0)))
    return docs, queries


def as_vectors(csr, prefix: str):
    from sparsecli.io.arrays import StringArray
    from sparsecli.io.vectors import SparseVectors

    indptr, indices, data = csr
    return SparseVectors(
        indptr, indices, data, StringArray.pack([f"{prefix}{i}" for i in range(len(indptr) - 1)]), VOCAB
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from sparsecli.io.vectors import nnz_stats, save_vectors

    docs, queries = generate(args.docs, args.queries, args.seed)
    save_vectors(args.out / "docs", as_vectors(docs, "d"))
    save_vectors(args.out / "queries", as_vectors(queries, "q"))
    print({"docs": nnz_stats(docs[0]), "queries": nnz_stats(queries[0])})


if __name__ == "__main__":
    main()
