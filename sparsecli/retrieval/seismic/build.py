"""Building a Seismic index (Bruch, Nardini, Rulli, Venturini, SIGIR 2024) from document
vectors: static pruning, blocking by random k-means, block summaries and the forward index
(the format: index.py), then optionally the kNN graph. The heavy loops are numba kernels
(build_kernels.py), run over slices of lists so that long phases show progress.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from sparsecli import ui
from sparsecli.io.vectors import SparseVectors, check_positive
from sparsecli.retrieval.exact.index import id_ranks
from sparsecli.retrieval.seismic.config import ApproxSearchConfig, SeismicIndexConfig
from sparsecli.retrieval.seismic.index import SeismicIndex
from sparsecli.schema import as_dict

log = logging.getLogger(__name__)

MAX_BLOCKS_PER_LIST = 65535  # a cap on one list's k-means blocks, kept so that indexes stay comparable
FIXED_POINT = 65535  # forward weights are uint16 multiples of max weight / 65535


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


def build(docs: SparseVectors, params: SeismicIndexConfig, seed: int) -> SeismicIndex:
    """The index over `docs` (weights finite and positive); the same for any thread count.
    Raises InputError for non-positive weights."""
    import numba

    from sparsecli.kernels import frozen
    from sparsecli.kernels.csr import transpose
    from sparsecli.retrieval.seismic import build_kernels as kernels

    started = time.perf_counter()
    indptr = frozen(np.asarray(docs.indptr, dtype=np.int64))
    terms = frozen(np.asarray(docs.indices, dtype=np.int32))
    weights = frozen(np.asarray(docs.data, dtype=np.float32))
    check_positive(weights)
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
        raise ValueError(f"unknown pruning {params.pruning!r}")  # the config class checks this
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
                seed,
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
    recorded = {**{k: v for k, v in as_dict(params).items() if k != "name"}, "seed": seed}  # the manifest's params
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
        arrays["knn"] = _knn_graph(SeismicIndex(arrays, scale, docs.ids, recorded), docs, params)
    log.info(
        "seismic index: %d docs, %d blocks, %d summary entries, built in %.1fs",
        len(indptr) - 1,
        n_blocks_total,
        len(sum_code),
        time.perf_counter() - started,
    )
    return SeismicIndex(arrays, scale, docs.ids, recorded)


def _knn_graph(index: SeismicIndex, docs: SparseVectors, params: SeismicIndexConfig) -> np.ndarray:
    """Each document's params.knn best matches among the others, through approximate search."""
    from sparsecli.retrieval.seismic.search import Searcher

    own = np.arange(index.n_docs, dtype=np.int32)
    settings = ApproxSearchConfig(query_cut=params.knn_query_cut, heap_factor=params.knn_heap_factor)
    log.info("seismic: kNN graph, %d neighbours a document", params.knn)
    ranking, _ = Searcher(index).search(docs, params.knn, settings, exclude=own)
    graph = ranking.docs.astype(np.int32)
    graph[np.arange(params.knn)[None, :] >= ranking.counts[:, None]] = -1
    return graph
