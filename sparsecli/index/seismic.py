"""A Seismic-style approximate index: pruned, blocked posting lists with quantised block
summaries, and a compact forward index for exact re-scoring.

Arrays (all memory-mappable .npy beside a versioned manifest):
- forward index: fwd_ptr and fwd_entries, each term | value << 16 in a uint32 (uint64 with
  32-bit terms for vocabularies over 65,536), the value a uint16 fixed point:
  weight = value x fwd_scale;
- blocks: list_block_ptr (the blocks of term t), block_doc_ptr, block_docs;
- summaries, per segment of <= 255 blocks of a list (list_seg_ptr), component-major:
  seg_comp_ptr, sum_comp, comp_count (uint8) with comp_sample (the entry offset of every
  16th component), and for each entry the block within its segment (sum_block, uint8) and
  an 8-bit code (sum_code); block_min / block_step dequantise: weight = min + code x step;
- optionally knn [n_docs, knn]: each document's approximate nearest neighbours by inner
  product, best first, -1 padded, found by searching the index with the document itself.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sparsecli import ui
from sparsecli.errors import ConfigError, InputError
from sparsecli.index.inverted import id_ranks
from sparsecli.io.arrays import StringArray, load_arrays, save_arrays
from sparsecli.io.vectors import SparseVectors

log = logging.getLogger(__name__)

KIND = "seismic-index"
VERSION = 1
MAX_BLOCKS_PER_LIST = 65535  # block numbers within a list are stored as uint16
FIXED_POINT = 65535  # forward weights are uint16 multiples of max weight / 65535


class SeismicParams(NamedTuple):
    n_postings: int = 3500
    max_fraction: float = 1.5
    pruning: str = "global"  # global | fixed
    centroid_fraction: float = 0.1
    min_cluster_size: int = 2
    summary_energy: float = 0.4
    doc_cut: int = 15
    knn: int = 0  # neighbours kept per document for search-time refinement; 0 = no graph
    knn_query_cut: int = 10  # search settings that find them, each document as a query
    knn_heap_factor: float = 0.9
    seed: int = 42


class SeismicIndex(NamedTuple):
    arrays: dict  # name -> array, as listed in the module docstring
    fwd_scale: float
    doc_ids: StringArray
    params: dict

    @property
    def n_docs(self) -> int:
        return len(self.arrays["fwd_ptr"]) - 1

    @property
    def n_terms(self) -> int:
        return len(self.arrays["list_block_ptr"]) - 1

    @property
    def term_bits(self) -> int:
        return 16 if self.arrays["fwd_entries"].dtype == np.uint32 else 32

    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self.arrays.values())


def _component_dtype(n_terms: int):
    return np.uint16 if n_terms <= 65536 else np.int32


def packed_rows(terms: np.ndarray, values: np.ndarray, n_terms: int) -> tuple[np.ndarray, int]:
    """Forward-index entries as one integer each: term | value << term_bits (4 bytes when the
    vocabulary fits 16 bits, as for BERT's 30,522; else 8), read with a single load."""
    if n_terms <= 65536:
        return terms.astype(np.uint32) | (values.astype(np.uint32) << np.uint32(16)), 16
    return terms.astype(np.uint64) | (values.astype(np.uint64) << np.uint64(32)), 32


_PROGRESS_STEPS = 20


def _slices(list_ptr: np.ndarray, steps: int) -> list[tuple[int, int]]:
    """[first, end) list ranges holding about equal numbers of postings, the work unit of
    every long build phase."""
    targets = np.linspace(0, list_ptr[-1], steps + 1)[1:-1]
    cuts = np.unique(np.concatenate(([0], np.searchsorted(list_ptr, targets), [len(list_ptr) - 1])))
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def build(docs: SparseVectors, params: SeismicParams) -> SeismicIndex:
    import numba

    from sparsecli.kernels import seismic as kernels
    from sparsecli.kernels.csr import transpose

    started = time.perf_counter()
    indptr = np.asarray(docs.indptr, dtype=np.int64)
    terms = np.asarray(docs.indices, dtype=np.int32)
    weights = np.asarray(docs.data, dtype=np.float32)
    if len(weights) and not (np.all(np.isfinite(weights)) and weights.min() > 0):
        raise InputError("document weights must be finite and positive", where="encode_run docs", fix="re-encode")
    n_terms = docs.n_cols
    n_chunks = numba.get_num_threads() * 16  # many more chunks than threads: lists differ in length

    # Forward index in 16-bit fixed point: exact enough for re-scoring, half the bytes of float32.
    scale = float(weights.max()) / FIXED_POINT if len(weights) else 1.0
    fwd_values = np.rint(weights / scale).astype(np.uint16)

    # Static pruning: the globally largest n_terms x n_postings entries, at most cap per list.
    term_ptr, post_docs, post_weights = transpose(indptr, terms, weights, n_terms)
    if params.pruning == "global":
        budget = n_terms * params.n_postings
        cap = int(params.n_postings * params.max_fraction)
        threshold = (
            np.partition(weights, len(weights) - budget)[len(weights) - budget] if len(weights) > budget else 0.0
        )
    elif params.pruning == "fixed":
        budget, cap, threshold = len(weights), params.n_postings, 0.0
    else:
        raise ConfigError(f"unknown pruning {params.pruning!r}", where="index.pruning", fix="use global or fixed")
    greater, equal = kernels.count_above(term_ptr, post_weights, np.float32(threshold))
    # Exactly `budget` postings: all above the threshold, then ties in term order (deterministic).
    ties_left = max(budget - int(greater.sum()), 0)
    ties_before = np.concatenate(([0], np.cumsum(equal)[:-1]))
    ties = np.clip(ties_left - ties_before, 0, equal)
    sizes = np.minimum(greater + ties, cap)
    list_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(sizes, out=list_ptr[1:])
    list_docs = np.empty(list_ptr[-1], dtype=np.int32)
    kernels.prune_lists(term_ptr, post_docs, post_weights, np.float32(threshold), list_ptr, list_docs)
    del post_docs, post_weights
    log.info(
        "pruned %d -> %d postings (%.1f%%)", len(weights), len(list_docs), 100 * len(list_docs) / max(len(weights), 1)
    )

    # Blocking by random k-means.
    n_centroids = np.clip((params.centroid_fraction * sizes).astype(np.int64), 1, MAX_BLOCKS_PER_LIST)
    block_slots = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(n_centroids, out=block_slots[1:])
    top_terms, top_weights = kernels.top_components(indptr, terms, weights, params.doc_cut)
    block_docs = np.empty_like(list_docs)
    slot_sizes = np.zeros(block_slots[-1], dtype=np.int64)
    n_blocks = np.zeros(n_terms, dtype=np.int64)
    # The long phases run over slices of lists of about equal work, to show progress.
    slices = _slices(list_ptr, _PROGRESS_STEPS)
    with ui.progress("seismic: clustering lists", total=len(slices), unit="slices") as bar:
        for first, end in slices:
            kernels.cluster_lists(
                list_ptr,
                list_docs,
                n_centroids,
                block_slots,
                indptr,
                terms,
                weights,
                top_terms,
                top_weights,
                params.min_cluster_size,
                params.seed,
                n_terms,
                n_chunks,
                first,
                end,
                block_docs,
                slot_sizes,
                n_blocks,
            )
            bar.advance(1)
    del list_docs, top_terms, top_weights
    used = np.arange(block_slots[-1]) - np.repeat(block_slots[:-1], n_centroids) < np.repeat(n_blocks, n_centroids)
    block_doc_ptr = np.zeros(int(used.sum()) + 1, dtype=np.int64)
    np.cumsum(slot_sizes[used], out=block_doc_ptr[1:])
    list_block_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(n_blocks, out=list_block_ptr[1:])

    # Summaries: sizes first, so every list writes at fixed offsets in parallel.
    segments = -(-n_blocks // kernels.SEGMENT)
    list_seg_ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(segments, out=list_seg_ptr[1:])
    energy = np.float32(params.summary_energy)
    summary_lengths = np.zeros(len(block_doc_ptr) - 1, dtype=np.int64)
    distinct = np.zeros(list_seg_ptr[-1], dtype=np.int64)
    forward = (indptr, terms, weights)
    with ui.progress("seismic: sizing summaries", total=len(slices), unit="slices") as bar:
        for first, end in slices:
            kernels.summary_sizes(
                list_block_ptr, list_seg_ptr, block_doc_ptr, block_docs, *forward, energy, n_terms, n_chunks,
                first, end, summary_lengths, distinct,
            )  # fmt: skip
            bar.advance(1)
    # The first block of every segment, then the entries before it.
    segment_first_block = (
        np.repeat(list_block_ptr[:-1], segments)
        + (np.arange(list_seg_ptr[-1]) - np.repeat(list_seg_ptr[:-1], segments)) * kernels.SEGMENT
    )
    cumulative = np.concatenate(([0], np.cumsum(summary_lengths)))
    seg_entry_ptr = np.append(cumulative[segment_first_block], cumulative[-1]).astype(np.int64)
    seg_comp_ptr = np.zeros(list_seg_ptr[-1] + 1, dtype=np.int64)
    np.cumsum(distinct, out=seg_comp_ptr[1:])
    n_blocks_total = len(block_doc_ptr) - 1
    block_min = np.zeros(n_blocks_total, dtype=np.float32)
    block_step = np.zeros(n_blocks_total, dtype=np.float32)
    sum_comp = np.zeros(seg_comp_ptr[-1], dtype=_component_dtype(n_terms))
    comp_count = np.zeros(seg_comp_ptr[-1], dtype=np.uint8)
    sum_block = np.zeros(seg_entry_ptr[-1], dtype=np.uint8)
    sum_code = np.zeros(seg_entry_ptr[-1], dtype=np.uint8)
    with ui.progress("seismic: summaries", total=len(slices), unit="slices") as bar:
        for first, end in slices:
            kernels.build_summaries(
                list_block_ptr, list_seg_ptr, block_doc_ptr, block_docs, *forward, energy, n_terms, n_chunks,
                first, end, seg_entry_ptr, seg_comp_ptr, block_min, block_step, sum_comp, comp_count, sum_block,
                sum_code,
            )  # fmt: skip
            bar.advance(1)
    id_rank, doc_by_rank = id_ranks(docs.ids.tolist())
    arrays = {
        "fwd_ptr": indptr,
        "fwd_entries": packed_rows(terms, fwd_values, n_terms)[0],
        "list_block_ptr": list_block_ptr,
        "list_seg_ptr": list_seg_ptr,
        "block_doc_ptr": block_doc_ptr,
        "block_docs": block_docs,
        "block_min": block_min,
        "block_step": block_step,
        "seg_comp_ptr": seg_comp_ptr,
        "sum_comp": sum_comp,
        "comp_count": comp_count,
        "comp_sample": kernels.comp_samples(comp_count, kernels.SAMPLE_EVERY),
        "sum_block": sum_block,
        "sum_code": sum_code,
        "id_rank": id_rank,
        "doc_by_rank": doc_by_rank,
    }
    if params.knn > 0:
        arrays["knn"] = _knn_graph(SeismicIndex(arrays, scale, docs.ids, params._asdict()), docs, params)
    log.info(
        "seismic index: %d docs, %d blocks, %d summary entries, built in %.1fs",
        len(indptr) - 1,
        n_blocks_total,
        len(sum_code),
        time.perf_counter() - started,
    )
    return SeismicIndex(arrays, scale, docs.ids, params._asdict())


def _knn_graph(index: SeismicIndex, docs: SparseVectors, params: SeismicParams) -> np.ndarray:
    """Each document's params.knn best matches among the others, through approximate search."""
    from sparsecli.search.approx import ApproxParams, Searcher

    own = np.arange(index.n_docs, dtype=np.int32)
    settings = ApproxParams(params.knn_query_cut, params.knn_heap_factor)
    log.info("seismic: kNN graph, %d neighbours a document", params.knn)
    ranking, _ = Searcher(index).search(docs, params.knn, settings, exclude=own)
    graph = ranking.docs.astype(np.int32)
    graph[np.arange(params.knn)[None, :] >= ranking.counts[:, None]] = -1
    return graph


def save(index: SeismicIndex, folder: Path) -> None:
    arrays = {**index.arrays, **index.doc_ids.arrays("doc_ids")}
    meta = {"n_docs": index.n_docs, "n_terms": index.n_terms, "fwd_scale": index.fwd_scale, "params": index.params}
    save_arrays(folder, KIND, VERSION, arrays, meta)


def load(folder: Path, *, verify: bool = False) -> SeismicIndex:
    arrays, manifest = load_arrays(folder, KIND, VERSION, verify=verify)
    doc_ids = StringArray.from_arrays(arrays, "doc_ids")
    for name in ("doc_ids_offsets", "doc_ids_utf8"):
        arrays.pop(name)
    index = SeismicIndex(arrays, manifest["fwd_scale"], doc_ids, manifest["params"])
    a = index.arrays
    consistent = (
        index.n_docs == manifest["n_docs"] == len(doc_ids) == len(a["id_rank"])
        and index.n_terms == manifest["n_terms"]
        and a["block_doc_ptr"][-1] == len(a["block_docs"])
        and len(a["sum_comp"]) == len(a["comp_count"]) == a["seg_comp_ptr"][-1]
        and len(a["sum_code"]) == len(a["sum_block"]) == int(a["comp_count"].sum(dtype=np.int64))
        and ("knn" not in a or (a["knn"].ndim == 2 and len(a["knn"]) == index.n_docs))
    )
    if not consistent:
        raise InputError(
            "array lengths disagree", where=str(folder), fix="the index is corrupt; rebuild it (runtime.force=true)"
        )
    return index
