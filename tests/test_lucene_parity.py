"""The default analyzer against Lucene's own output (Anserini 0.22.1 DefaultEnglishAnalyzer,
Lucene 9.5) for every SciFact document and query: the same tokens, in the same order."""

import gzip
import json

import pytest

from conftest import SHARED_DATA

from sparsecli.text.analyzer import Analyzer
from sparsecli.text.config import AnalyzerConfig


def reference(path):
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return {
            i: tokens.split(" ") if tokens else []
            for i, _, tokens in (line.rstrip("\n").partition("\t") for line in lines)
        }


def first_mismatch(analyzer, texts, expected):
    """(id, ours, Lucene's) of the first text analysed differently, and how many are."""
    mismatches = [(i, analyzer(text), expected[i]) for i, text in texts if analyzer(text) != expected[i]]
    return (mismatches[0] if mismatches else None), len(mismatches)


@pytest.fixture(scope="module")
def scifact():
    folder = SHARED_DATA / "ir" / "scifact"
    if not (folder / "lucene-reference").is_dir():
        pytest.skip("no Lucene reference output")
    return folder


def test_every_document_analyses_to_lucenes_tokens(scifact):
    expected = reference(scifact / "lucene-reference" / "corpus.analyzed.tsv.gz")
    with open(scifact / "beir" / "corpus.jsonl", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    texts = [(r["_id"], f"{r.get('title') or ''} {r.get('text') or ''}") for r in records]
    assert len(texts) == len(expected) == 5183
    assert first_mismatch(Analyzer(AnalyzerConfig()), texts, expected) == (None, 0)


def test_every_query_analyses_to_lucenes_tokens(scifact):
    expected = reference(scifact / "lucene-reference" / "queries.analyzed.tsv.gz")
    with open(scifact / "beir" / "queries.jsonl", encoding="utf-8") as lines:
        texts = [(r["_id"], r["text"]) for r in map(json.loads, lines)]
    assert len(texts) == len(expected) == 1109
    assert first_mismatch(Analyzer(AnalyzerConfig()), texts, expected) == (None, 0)


def test_the_fast_stemmer_equals_porters_reference_code(scifact):
    """lucene_porter stems with Snowball's C code where it agrees with Porter's reference
    (NLTK's MARTIN_EXTENSIONS): check that on SciFact's words, each with common suffixes."""
    import random

    from nltk.stem.porter import PorterStemmer

    from sparsecli.text.analyzer import lucene_porter
    from sparsecli.text.tokenize import standard

    with open(scifact / "beir" / "corpus.jsonl", encoding="utf-8") as lines:
        words = sorted({t.lower() for r in map(json.loads, lines) for t in standard(r["text"])})
    suffixes = ("", "s", "es", "ies", "ed", "ing", "ly", "ness", "ation", "ational", "izer", "ement", "ably", "ology")
    sample = [w + s for w in random.Random(0).sample(words, 3000) for s in suffixes]
    sample += ["revving", "trekked", "reproducibly", "technology", "Yelling", "2010s", "falling", "passed", "us"]
    reference, fast = PorterStemmer(PorterStemmer.MARTIN_EXTENSIONS), lucene_porter()
    assert [w for w in sample if fast(w) != reference.stem(w, to_lowercase=False)] == []
