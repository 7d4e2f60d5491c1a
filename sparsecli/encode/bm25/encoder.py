"""BM25 document weights and term-count query vectors.

BM25 is computed eagerly (as bm25s does): each (document, term) entry stores its full BM25
contribution, so retrieval is a sparse dot product with the query's term counts, which is
exactly Lucene's bag-of-words BM25 score. Variants are small pure functions chosen by name,
elementwise over float64 arrays (df, n: document frequency and collection size; tf, dl:
term count and document length; avgdl the mean length), after Kamphuis, de Vries, Boytsov
and Lin, "Which BM25 Do You Mean?" (ECIR 2020): lucene and robertson (Robertson et al.,
TREC-3), atire (Trotman et al., ADCS 2014), bm25l and bm25plus (Lv and Zhai, CIKM 2011).
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

import numpy as np

from sparsecli import ui
from sparsecli.encode.bm25.config import BM25Config
from sparsecli.encode.bm25.terms import TermCounts, count_corpus, count_queries
from sparsecli.encode.context import EncodeContext, Encoded, document_text
from sparsecli.io.arrays import StringArray
from sparsecli.io.vectors import SparseVectors, drop_zeros
from sparsecli.text.analyzer import Analyzer

log = logging.getLogger("sparsecli")

# --------------------------------------------------------------------------- idf(df, n)


def idf_lucene(df, n):
    return np.log1p((n - df + 0.5) / (df + 0.5))


def idf_robertson(df, n):
    return np.maximum(np.log((n - df + 0.5) / (df + 0.5)), 0.0)  # clipped: weights stay >= 0


def idf_atire(df, n):
    return np.log(n / df)


def idf_bm25l(df, n):
    return np.log((n + 1) / (df + 0.5))


def idf_bm25plus(df, n):
    return np.log((n + 1) / df)


# --------------------------------------------------------------------------- tf(tf, dl, avgdl)


def _length_norm(dl, avgdl, b):
    return 1 - b + b * dl / avgdl


def tf_lucene(tf, dl, avgdl, k1, b, delta):
    return tf / (tf + k1 * _length_norm(dl, avgdl, b))  # Lucene >= 8 drops the constant (k1 + 1)


def tf_robertson(tf, dl, avgdl, k1, b, delta):
    return tf * (k1 + 1) / (tf + k1 * _length_norm(dl, avgdl, b))


def tf_bm25l(tf, dl, avgdl, k1, b, delta):
    c = tf / _length_norm(dl, avgdl, b)
    return (k1 + 1) * (c + delta) / (k1 + c + delta)


def tf_bm25plus(tf, dl, avgdl, k1, b, delta):
    return tf_robertson(tf, dl, avgdl, k1, b, delta) + delta


VARIANTS: dict[str, tuple[Callable, Callable]] = {
    "lucene": (idf_lucene, tf_lucene),
    "robertson": (idf_robertson, tf_robertson),
    "atire": (idf_atire, tf_robertson),
    "bm25l": (idf_bm25l, tf_bm25l),
    "bm25plus": (idf_bm25plus, tf_bm25plus),
}

# --------------------------------------------------------------------------- Lucene norms


def _int_to_int4(i: np.ndarray) -> np.ndarray:
    """Lucene SmallFloat.longToInt4: keep the 4 most significant bits and the shift."""
    i = i.astype(np.int64)
    bits = np.frexp(i.astype(np.float64))[1].astype(np.int64)  # 64 - numberOfLeadingZeros(i)
    shift = np.maximum(bits - 4, 0)
    normal = ((i >> shift) & 0x07) | ((shift + 1) << 3)
    return np.where(bits < 4, i, normal)


def _int4_to_int(e: np.ndarray) -> np.ndarray:
    bits = e & 0x07
    shift = (e >> 3) - 1
    return np.where(shift == -1, bits, (bits | 0x08) << np.maximum(shift, 0))


_FREE_VALUES = 255 - 231  # SmallFloat.NUM_FREE_VALUES: lengths below 24 are stored exactly


def lucene_length(lengths: np.ndarray) -> np.ndarray:
    """Document length as Lucene's BM25 sees it after its 1-byte norm (intToByte4, byte4ToInt)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    small = lengths < _FREE_VALUES
    encoded = _FREE_VALUES + _int_to_int4(np.maximum(lengths - _FREE_VALUES, 0))
    decoded = _FREE_VALUES + _int4_to_int(encoded - _FREE_VALUES)
    return np.where(small, lengths, decoded)


# --------------------------------------------------------------------------- encoder


def weigh(counts: TermCounts, n_terms: int, config: BM25Config) -> tuple[np.ndarray, dict]:
    """BM25 weight of every (document, term) entry, float32, over the documents' statistics."""
    idf_fn, tf_fn = VARIANTS[config.variant.value]
    lengths = counts.lengths
    n_docs = int((lengths > 0).sum())  # Lucene's docCount: documents with at least one term
    avgdl = float(lengths.sum()) / max(n_docs, 1)
    df = np.bincount(counts.indices, minlength=n_terms).astype(np.float64)
    idf = idf_fn(df, n_docs)
    dl = lucene_length(lengths) if config.lucene_norms else lengths
    per_entry_dl = np.repeat(dl.astype(np.float64), np.diff(counts.indptr))
    weights = idf[counts.indices] * tf_fn(
        counts.counts.astype(np.float64), per_entry_dl, avgdl, config.k1, config.b, config.delta
    )
    dropped = int(((idf <= 0) & (df > 0)).sum())  # e.g. robertson's clipped IDF of terms in most documents
    if dropped:
        log.warning(
            "%d terms get no weight (IDF <= 0 under encoder.variant=%s), so queries cannot retrieve by them",
            dropped,
            config.variant.value,
        )
    stats = {"n_docs_nonempty": n_docs, "avgdl": round(avgdl, 6), "terms_without_weight": dropped}
    return weights.astype(np.float32), stats


def encode(
    docs: Iterable[tuple[str, str, str]],
    queries: list[tuple[str, str]],
    config: BM25Config,
    context: EncodeContext | None = None,
) -> Encoded:
    """Encode (id, title, text) documents and (id, text) queries; BM25 needs no scratch space."""
    from sparsecli.kernels import set_threads

    total_docs = context.total_docs if context else None
    if context is not None:
        context.uses_threads(set_threads(context.threads))  # numba sorts the rows
    analyzer = Analyzer(config.analyzer)
    fields = config.analyzer.fields
    records = ((doc_id, document_text(title, text, fields)) for doc_id, title, text in docs)
    with ui.progress("encode docs", total=total_docs, unit="docs") as bar:
        doc_counts, vocab = count_corpus(records, analyzer.bag, bar.advance)
    weights, stats = weigh(doc_counts, len(vocab), config)
    indptr, indices, weights = drop_zeros(doc_counts.indptr, doc_counts.indices, weights)
    doc_vectors = SparseVectors(indptr, indices, weights, StringArray.pack(doc_counts.ids), len(vocab))

    query_counts, unknown = count_queries(queries, analyzer.bag, {t: i for i, t in enumerate(vocab)})
    query_vectors = SparseVectors(
        query_counts.indptr,
        query_counts.indices,
        query_counts.counts.astype(np.float32),
        StringArray.pack(query_counts.ids),
        len(vocab),
    )
    stats.update(
        query_terms_not_in_vocab=unknown,
        doc_tokens_mean=round(float(doc_counts.lengths.mean()), 4) if len(doc_counts.lengths) else 0.0,
    )
    return Encoded(doc_vectors, query_vectors, vocab, stats)
