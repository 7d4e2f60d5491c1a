import math

import numpy as np
import pytest

from sparsecli.encode.bm25.config import BM25Config, BM25Variant
from sparsecli.text.config import AnalyzerConfig, StemmerName
from sparsecli.encode.bm25 import encoder as bm25


def lucene_length_reference(length: int) -> int:
    """A line-by-line port of Lucene's SmallFloat.intToByte4 followed by byte4ToInt."""

    def long_to_int4(i):
        num_bits = i.bit_length()
        if num_bits < 4:
            return i
        shift = num_bits - 4
        return ((i >> shift) & 0x07) | ((shift + 1) << 3)

    def int4_to_long(i):
        bits, shift = i & 0x07, (i >> 3) - 1
        return bits if shift == -1 else (bits | 0x08) << shift

    free = 255 - long_to_int4(2**31 - 1)
    encoded = length if length < free else free + long_to_int4(length - free)
    return encoded if encoded < free else free + int4_to_long(encoded - free)


def test_lucene_length_matches_smallfloat():
    lengths = np.arange(0, 70000)
    expected = np.array([lucene_length_reference(int(n)) for n in lengths])
    np.testing.assert_array_equal(bm25.lucene_length(lengths), expected)
    assert [lucene_length_reference(n) for n in (23, 31, 32, 41, 100)] == [23, 31, 32, 40, 96]


DOCS = [
    ("a", "", "apple banana apple"),
    ("b", "", "banana cherry"),
    ("c", "", "cherry cherry cherry durian"),
    ("e", "", "the"),
]
QUERIES = [("q1", "apple cherry cherry"), ("q2", "kiwi"), ("q3", "banana")]
PLAIN = AnalyzerConfig(stopwords="lucene", stemmer=StemmerName.none)


def reference_weights(variant, k1, b, delta, lucene_norms):
    """BM25 from the textbook formulas, one (doc, term) at a time."""
    tokens = {d: [t for t in text.split() if t != "the"] for d, _, text in DOCS}
    nonempty = {d: t for d, t in tokens.items() if t}
    n = len(nonempty)
    avgdl = sum(len(t) for t in nonempty.values()) / n
    df = {}
    for terms in nonempty.values():
        for term in set(terms):
            df[term] = df.get(term, 0) + 1
    idf = {
        "lucene": lambda f: math.log(1 + (n - f + 0.5) / (f + 0.5)),
        "robertson": lambda f: max(math.log((n - f + 0.5) / (f + 0.5)), 0.0),
        "atire": lambda f: math.log(n / f),
        "bm25l": lambda f: math.log((n + 1) / (f + 0.5)),
        "bm25plus": lambda f: math.log((n + 1) / f),
    }[variant]
    out = {}
    for doc, terms in nonempty.items():
        dl = lucene_length_reference(len(terms)) if lucene_norms else len(terms)
        norm = 1 - b + b * dl / avgdl
        for term in sorted(set(terms)):
            tf = terms.count(term)
            if variant == "lucene":
                w = tf / (tf + k1 * norm)
            elif variant == "bm25l":
                c = tf / norm
                w = (k1 + 1) * (c + delta) / (k1 + c + delta)
            else:
                w = tf * (k1 + 1) / (tf + k1 * norm) + (delta if variant == "bm25plus" else 0)
            out[(doc, term)] = idf(df[term]) * w
    return out


@pytest.mark.parametrize("variant", [v.value for v in BM25Variant])
@pytest.mark.parametrize("lucene_norms", [True, False])
def test_weights_match_the_formulas(variant, lucene_norms):
    config = BM25Config(analyzer=PLAIN, variant=BM25Variant(variant), k1=1.2, b=0.75, lucene_norms=lucene_norms)
    encoded = bm25.encode(DOCS, QUERIES, config)
    got = {}
    for row in range(encoded.docs.n_rows):
        terms, weights = encoded.docs.row(row)
        for t, w in zip(terms, weights):
            got[(encoded.docs.ids[row], encoded.vocab[t])] = float(w)
    expected = {key: w for key, w in reference_weights(variant, 1.2, 0.75, 0.5, lucene_norms).items() if w != 0}
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-6)


def test_vocabulary_is_sorted_and_queries_are_counts():
    encoded = bm25.encode(DOCS, QUERIES, BM25Config(analyzer=PLAIN))
    assert encoded.vocab == ["apple", "banana", "cherry", "durian"]
    assert encoded.docs.ids.tolist() == ["a", "b", "c", "e"]
    assert np.diff(encoded.docs.indptr).tolist() == [2, 2, 2, 0]  # "the" is a stopword: empty row
    q = encoded.queries
    assert q.ids.tolist() == ["q1", "q2", "q3"]
    assert q.indices.tolist() == [0, 2, 1] and q.data.tolist() == [1.0, 2.0, 1.0]
    assert np.diff(q.indptr).tolist() == [2, 0, 1]
    assert encoded.stats["query_terms_not_in_vocab"] == 1 and encoded.stats["n_docs_nonempty"] == 3
