"""Bags of words: analyzed texts to term-count CSR rows over a vocabulary."""

from __future__ import annotations

from array import array
from typing import Callable, Iterable, NamedTuple

import numpy as np


class TermCounts(NamedTuple):
    indptr: np.ndarray  # int64
    indices: np.ndarray  # int32 term ids, ascending within a row
    counts: np.ndarray  # int32
    lengths: np.ndarray  # int64: number of terms in each text (the BM25 document length)
    ids: list[str]


BagOfWords = Callable[[str], tuple[dict[str, int], int]]


def count_corpus(
    records: Iterable[tuple[str, str]], bag_of_words: BagOfWords, advance: Callable[[int], None]
) -> tuple[TermCounts, list[str]]:
    """Count terms of (id, text) records, growing the vocabulary; returns counts and sorted vocab."""
    vocab: dict[str, int] = {}
    indptr, indices, counts, lengths, ids = array("q", [0]), array("i"), array("i"), array("q"), []
    for record_id, text in records:
        bag, length = bag_of_words(text)
        for term, count in bag.items():
            term_id = vocab.get(term)
            if term_id is None:
                term_id = vocab[term] = len(vocab)
            indices.append(term_id)
            counts.append(count)
        indptr.append(len(indices))
        lengths.append(length)
        ids.append(record_id)
        advance(1)
    # Renumber terms in sorted order, so artifacts do not depend on first-seen order.
    terms_sorted = sorted(vocab)
    renumber = np.empty(len(vocab), dtype=np.int32)
    renumber[[vocab[t] for t in terms_sorted]] = np.arange(len(vocab), dtype=np.int32)
    result = _sorted_rows(
        np.frombuffer(indptr, dtype=np.int64),
        renumber[np.frombuffer(indices, dtype=np.int32)],
        np.frombuffer(counts, dtype=np.int32),
        np.frombuffer(lengths, dtype=np.int64),
        ids,
    )
    return result, terms_sorted


def count_queries(
    records: Iterable[tuple[str, str]], bag_of_words: BagOfWords, vocab: dict[str, int]
) -> tuple[TermCounts, int]:
    """Count query terms over a fixed vocabulary; returns counts and the number of unknown terms."""
    indptr, indices, counts, lengths, ids = array("q", [0]), array("i"), array("i"), array("q"), []
    unknown = 0
    for record_id, text in records:
        bag, length = bag_of_words(text)
        for term, count in bag.items():
            term_id = vocab.get(term)
            if term_id is None:
                unknown += 1
                continue
            indices.append(term_id)
            counts.append(count)
        indptr.append(len(indices))
        lengths.append(length)
        ids.append(record_id)
    result = _sorted_rows(
        np.frombuffer(indptr, dtype=np.int64),
        np.frombuffer(indices, dtype=np.int32),
        np.frombuffer(counts, dtype=np.int32),
        np.frombuffer(lengths, dtype=np.int64),
        ids,
    )
    return result, unknown


def _sorted_rows(indptr, indices, counts, lengths, ids) -> TermCounts:
    from sparsecli.kernels.csr import sort_rows

    indices, counts = indices.copy(), counts.copy()
    sort_rows(indptr, indices, counts)
    return TermCounts(indptr.copy(), indices, counts, lengths.copy(), ids)
