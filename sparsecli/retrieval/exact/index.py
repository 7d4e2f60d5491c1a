"""A term-major inverted index: for each term, the documents containing it and their weights.

Saved as memory-mappable .npy arrays beside a versioned manifest, so opening even a
multi-GB index only reads headers; `verify=True` also checks every array's sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from sparsecli.errors import InputError
from sparsecli.io.arrays import StringArray, load_arrays, save_arrays
from sparsecli.io.vectors import SparseVectors, check_positive, drop_zeros
from sparsecli.retrieval.exact.config import INVERTED_INDEX

KIND = INVERTED_INDEX
VERSION = 2  # 2: term_max


class InvertedIndex(NamedTuple):
    term_ptr: np.ndarray  # int64, n_terms + 1: postings of term t are [term_ptr[t], term_ptr[t+1])
    post_docs: np.ndarray  # int32, doc numbers ascending within each term
    post_weights: np.ndarray  # float32, > 0
    term_max: np.ndarray  # float32, n_terms: each list's largest weight (MaxScore's upper bounds)
    id_rank: np.ndarray  # int32, position of each doc id in UTF-8 byte order, for tie-breaking
    doc_by_rank: np.ndarray  # int32, the inverse permutation of id_rank
    doc_ids: StringArray
    quantize: float | None = None  # weights were rounded to integers after scaling by this

    @property
    def n_docs(self) -> int:
        return len(self.id_rank)

    @property
    def n_terms(self) -> int:
        return len(self.term_ptr) - 1


def id_ranks(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each id when all ids are sorted bytewise (strcmp order, as trec_eval compares),
    and the document at each rank."""
    encoded = np.array([s.encode("utf-8") for s in ids], dtype=bytes) if ids else np.zeros(0, dtype="S1")
    order = np.argsort(encoded, kind="stable").astype(np.int32)
    ranks = np.empty(len(ids), dtype=np.int32)
    ranks[order] = np.arange(len(ids), dtype=np.int32)
    return ranks, order


def quantized(data: np.ndarray, factor: float | None) -> np.ndarray:
    """round(w x factor) as float32 (exact integers), or the weights unchanged."""
    if factor is None:
        return np.asarray(data, dtype=np.float32)
    return np.rint(np.asarray(data, dtype=np.float64) * factor).astype(np.float32)


def build(docs: SparseVectors, quantize: float | None = None) -> InvertedIndex:
    from sparsecli.kernels import frozen
    from sparsecli.kernels.csr import transpose
    from sparsecli.retrieval.exact.maxscore import term_maxima

    data = np.asarray(docs.data)
    check_positive(data)
    indptr, indices = np.asarray(docs.indptr), np.asarray(docs.indices)
    if quantize is not None:  # weights that round to 0 leave the index
        indptr, indices, data = drop_zeros(indptr, indices, quantized(data, quantize))
    term_ptr, post_docs, post_weights = transpose(frozen(indptr), frozen(indices), frozen(data), docs.n_cols)
    term_max = term_maxima(term_ptr, post_weights)
    return InvertedIndex(term_ptr, post_docs, post_weights, term_max, *id_ranks(docs.ids.tolist()), docs.ids, quantize)


def save(index: InvertedIndex, folder: Path, meta: dict | None = None) -> None:
    arrays = {
        "term_ptr": index.term_ptr,
        "post_docs": index.post_docs,
        "post_weights": index.post_weights,
        "term_max": index.term_max,
        "id_rank": index.id_rank,
        "doc_by_rank": index.doc_by_rank,
        **index.doc_ids.arrays("doc_ids"),
    }
    stats = {
        "n_docs": index.n_docs,
        "n_terms": index.n_terms,
        "postings": int(index.term_ptr[-1]),
        "quantize": index.quantize,
    }
    save_arrays(folder, KIND, VERSION, arrays, {**stats, **(meta or {})})


def load(folder: Path, *, verify: bool = False) -> InvertedIndex:
    arrays, manifest = load_arrays(folder, KIND, VERSION, verify=verify)
    index = InvertedIndex(
        arrays["term_ptr"],
        arrays["post_docs"],
        arrays["post_weights"],
        arrays["term_max"],
        arrays["id_rank"],
        arrays["doc_by_rank"],
        StringArray.from_arrays(arrays, "doc_ids"),
        manifest["quantize"],
    )
    consistent = (
        index.n_docs == manifest["n_docs"] == len(index.doc_ids) == len(index.doc_by_rank)
        and index.n_terms == manifest["n_terms"] == len(index.term_max)
        and len(index.post_docs) == len(index.post_weights) == manifest["postings"]
    )
    if not consistent:
        raise InputError(
            "array lengths disagree with each other or with the manifest",
            where=str(folder),
            fix="the index is corrupt; rebuild it (runtime.force=true)",
        )
    return index
