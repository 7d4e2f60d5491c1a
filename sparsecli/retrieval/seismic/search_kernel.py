"""The Seismic search kernel (Bruch, Nardini, Rulli, Venturini, SIGIR 2024): for the
`query_cut` largest query terms, score every block summary of the term's list, and
evaluate a block's documents only when its summary could reach `heap_factor` x the current
k-th score; optionally score the kNN-graph neighbours of every result.

The kernel's arguments come in named tuples, by what they hold: the queries, the settings,
the index (posting blocks, block summaries, forward index, per-document tables), the
caller's per-thread workspaces and the outputs. The tuples are defined at module level so
that numba's on-disk cache can pickle their types.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from sparsecli.kernels.prefetch import prefetch
from sparsecli.kernels.topk import LOW32, offer, rank_key, score_of, sift_down_min, write_ranked
from sparsecli.retrieval.seismic.build_kernels import SAMPLE_EVERY, SEGMENT


class Queries(NamedTuple):
    """A batch of queries as CSR rows: query q is entries ptr[q]:ptr[q + 1].

    ptr: int64 [n_queries + 1];
    terms: int64 [nnz], ascending within a row;
    weights: float32 [nnz], positive;
    exclude: int32 [n_queries], a document to leave out of query q's results (its own id),
        or -1 for none.
    """

    ptr: np.ndarray
    terms: np.ndarray
    weights: np.ndarray
    exclude: np.ndarray


class Settings(NamedTuple):
    """How far each query searches, and the sizes of its buffers.

    k: int, results a query;
    query_cut: int, the query's largest terms whose lists are searched;
    heap_factor: float32, stop at the first block whose summary score is below
        heap_factor x the k-th score;
    n_knn: int, kNN-graph neighbours of every result also scored (<= documents.knn.shape[1]);
    max_blocks: int, the most blocks of any one list;
    max_block_docs: int, the most documents of any one block.
    The last two come from the index once (Searcher): computing them here would cost a pass
    over every block on each call.
    """

    k: int
    query_cut: int
    heap_factor: np.float32
    n_knn: int
    max_blocks: int
    max_block_docs: int


class PostingBlocks(NamedTuple):
    """The pruned posting lists, each split into blocks of documents.

    list_block_ptr: int64 [n_terms + 1], term t's blocks are list_block_ptr[t]:list_block_ptr[t + 1];
    list_seg_ptr: int64 [n_terms + 1], term t's summary segments (SEGMENT blocks each, the
        last one fewer);
    block_doc_ptr: int64 [n_blocks + 1], block b's documents are block_doc_ptr[b]:block_doc_ptr[b + 1];
    block_docs: int32 [n_postings], document numbers, ascending within a block.
    """

    list_block_ptr: np.ndarray
    list_seg_ptr: np.ndarray
    block_doc_ptr: np.ndarray
    block_docs: np.ndarray


class BlockSummaries(NamedTuple):
    """The blocks' quantised summaries, component-major within each segment (index.py).

    block_min, block_step: float32 [n_blocks], a summary weight is min + code x step;
    seg_comp_ptr: int64 [n_segments + 1], segment s's components are
        seg_comp_ptr[s]:seg_comp_ptr[s + 1];
    sum_comp: uint16 (int32 for vocabularies over 65,536) [n_components], each component's
        term, ascending within a segment;
    comp_count: uint8 [n_components], how many blocks of its segment have the component;
    comp_sample: int64 [n_components // SAMPLE_EVERY + 1], the first entry of every
        SAMPLE_EVERY-th component (the others' add up the counts in between);
    sum_block: uint8 [n_entries], an entry's block within its segment;
    sum_code: uint8 [n_entries], its 8-bit weight code.
    """

    block_min: np.ndarray
    block_step: np.ndarray
    seg_comp_ptr: np.ndarray
    sum_comp: np.ndarray
    comp_count: np.ndarray
    comp_sample: np.ndarray
    sum_block: np.ndarray
    sum_code: np.ndarray


class ForwardIndex(NamedTuple):
    """Every document's full vector, for exact scoring: document d is entries ptr[d]:ptr[d + 1].

    ptr: int64 [n_docs + 1];
    entries: uint32 (uint64 when term_bits is 32) [nnz], each term | value << term_bits;
    term_bits: int, 16 or 32;
    scale: float32, a weight is value x scale.
    """

    ptr: np.ndarray
    entries: np.ndarray
    term_bits: int
    scale: np.float32


class DocumentTables(NamedTuple):
    """Per-document tables: the tie-break order of ids, and the kNN graph.

    id_rank: int32 [n_docs], each document's position among the ids sorted as UTF-8 bytes
        (sparsecli.kernels.topk's rank keys);
    doc_by_rank: int32 [n_docs], its inverse;
    knn: int32 [n_docs, width], each document's nearest neighbours, best first, -1 padded
        (width 0 for an index built without a graph).
    """

    id_rank: np.ndarray
    doc_by_rank: np.ndarray
    knn: np.ndarray


class Workspaces(NamedTuple):
    """Per-thread buffers, kept by the caller across calls so that a single query allocates
    nothing proportional to the collection; each query leaves them zeroed.

    dense: float32 [threads, n_terms], zeros; a query's weights by term;
    visited: uint8 [threads, n_docs // 8 + 1], a zeroed bitset of the documents scored. A bit
        a document rather than a query stamp: 1/32 of the bytes keeps the set in L2.
    The kernel runs one chunk of queries per row, so at most `threads` chunks.
    """

    dense: np.ndarray
    visited: np.ndarray


class Results(NamedTuple):
    """The outputs, a row per query, written by the kernel.

    docs: int32 [n_queries, k], document numbers, best first;
    scores: float32 [n_queries, k];
    counts: int32 [n_queries], how many of the k columns are filled;
    scored: int64 [n_queries], how many documents the query scored exactly.
    """

    docs: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    scored: np.ndarray


@nb.njit(inline="always")
def _bits(value, f32, u32):
    f32[0] = value
    return u32[0]


@nb.njit(inline="always")
def _dot(dense, entries, lo, hi, term_bits):
    """Dot product of a forward-index row (term | value << term_bits) with a dense query.

    Two accumulators halve the floating-point add chain, and a packed entry is one load where
    separate term and value arrays took two (both faster in bench_search). Indices are
    unsigned throughout: numba wraps signed ones for negative indexing, a test on every load
    whose removal made whole searches measurably faster."""
    mask = np.uint64((1 << term_bits) - 1)
    shift = np.uint64(term_bits)
    s0 = np.float32(0.0)
    s1 = np.float32(0.0)
    e = np.uint64(lo)
    end = np.uint64(hi)
    while e + np.uint64(2) <= end:
        x = np.uint64(entries[e])
        y = np.uint64(entries[e + np.uint64(1)])
        s0 += dense[x & mask] * np.float32(x >> shift)
        s1 += dense[y & mask] * np.float32(y >> shift)
        e += np.uint64(2)
    if e < end:
        x = np.uint64(entries[e])
        s0 += dense[x & mask] * np.float32(x >> shift)
    return s0 + s1


@nb.njit(inline="always")
def _dot4(dense, entries, ptr, docs, j, term_bits, out):
    """Dot products of four rows at once: four independent memory streams keep more cache
    misses in flight than one row at a time (the forward index rarely fits in cache)."""
    mask = np.uint64((1 << term_bits) - 1)
    shift = np.uint64(term_bits)
    a, b, c, d = ptr[docs[j]], ptr[docs[j + 1]], ptr[docs[j + 2]], ptr[docs[j + 3]]
    la, lb, lc, ld = ptr[docs[j] + 1] - a, ptr[docs[j + 1] + 1] - b, ptr[docs[j + 2] + 1] - c, ptr[docs[j + 3] + 1] - d
    common = min(min(la, lb), min(lc, ld))
    ua, ub, uc, ud = np.uint64(a), np.uint64(b), np.uint64(c), np.uint64(d)
    sa = np.float32(0.0)
    sb = np.float32(0.0)
    sc = np.float32(0.0)
    sd = np.float32(0.0)
    for i in range(np.uint64(common)):
        x = np.uint64(entries[ua + i])
        sa += dense[x & mask] * np.float32(x >> shift)
        x = np.uint64(entries[ub + i])
        sb += dense[x & mask] * np.float32(x >> shift)
        x = np.uint64(entries[uc + i])
        sc += dense[x & mask] * np.float32(x >> shift)
        x = np.uint64(entries[ud + i])
        sd += dense[x & mask] * np.float32(x >> shift)
    out[0] = sa + _dot(dense, entries, a + common, a + la, term_bits)
    out[1] = sb + _dot(dense, entries, b + common, b + lb, term_bits)
    out[2] = sc + _dot(dense, entries, c + common, c + lc, term_bits)
    out[3] = sd + _dot(dense, entries, d + common, d + ld, term_bits)


@nb.njit(cache=True, parallel=True)
def search_seismic(queries, settings, postings, summaries, forward, documents, work, out):
    """Approximate top-k of every query into `out`, in parallel over chunks of queries, one
    chunk per row of the workspaces.

    queries: Queries; settings: Settings; the index: postings (PostingBlocks), summaries
    (BlockSummaries), forward (ForwardIndex) and documents (DocumentTables); work:
    Workspaces, zeroed and left zeroed; out: Results, written for every query.

    With settings.n_knn > 0, the first n_knn kNN-graph neighbours of every result are scored
    too, when not yet scored (Seismic's kNN refinement): a near miss is often a neighbour of
    a hit.
    """
    # Every field into a local before the parallel loop, whose body then reads plain arrays
    # and scalars, as when they were separate arguments.
    q_ptr, q_terms, q_weights, exclude = queries.ptr, queries.terms, queries.weights, queries.exclude
    k, query_cut, heap_factor = settings.k, settings.query_cut, settings.heap_factor
    n_knn, max_blocks, max_block_docs = settings.n_knn, settings.max_blocks, settings.max_block_docs
    list_block_ptr, list_seg_ptr = postings.list_block_ptr, postings.list_seg_ptr
    block_doc_ptr, block_docs = postings.block_doc_ptr, postings.block_docs
    block_min, block_step = summaries.block_min, summaries.block_step
    seg_comp_ptr, sum_comp = summaries.seg_comp_ptr, summaries.sum_comp
    comp_count, comp_sample = summaries.comp_count, summaries.comp_sample
    sum_block, sum_code = summaries.sum_block, summaries.sum_code
    fwd_ptr, fwd_entries, term_bits, fwd_scale = forward.ptr, forward.entries, forward.term_bits, forward.scale
    id_rank, doc_by_rank, knn = documents.id_rank, documents.doc_by_rank, documents.knn
    dense_ws, visited_ws = work.dense, work.visited
    out_doc, out_score, out_count, out_scored = out.docs, out.scores, out.counts, out.scored
    n_queries = len(q_ptr) - 1
    n_chunks = min(dense_ws.shape[0], max(n_queries, 1))
    for chunk in nb.prange(n_chunks):
        lo_q = chunk * n_queries // n_chunks
        hi_q = (chunk + 1) * n_queries // n_chunks
        dense = dense_ws[chunk]
        capacity = max(1, query_cut) * max_blocks
        visited = visited_ws[chunk]
        opened = np.empty(capacity, dtype=np.int64)
        heap = np.empty(max(k, 1), dtype=np.uint64)
        mins = np.empty(capacity, dtype=np.float32)
        codes = np.empty(capacity, dtype=np.float32)
        dots = np.empty(capacity, dtype=np.float32)
        blocks = np.empty(capacity, dtype=np.int64)
        order_keys = np.empty(capacity, dtype=np.uint64)
        f32 = np.zeros(1, dtype=np.float32)
        u32 = f32.view(np.uint32)
        pending = np.empty(max_block_docs, dtype=np.int64)
        hops = min(n_knn, knn.shape[1])
        results = np.empty(max(k, 1), dtype=np.uint64)
        neighbours = np.empty(max(k * hops, 1), dtype=np.int64)
        four = np.zeros(4, dtype=np.float32)
        entries_per_line = max(1, 64 // fwd_entries.itemsize)
        for q in range(lo_q, hi_q):
            qlo, qhi = q_ptr[q], q_ptr[q + 1]
            for p in range(qlo, qhi):
                dense[q_terms[p]] = q_weights[p]
            order_terms = np.argsort(-q_weights[qlo:qhi], kind="mergesort")
            # Summary scores of every block of the query_cut largest terms' lists.
            n_all = 0
            for j in range(min(query_cut, qhi - qlo)):
                t = q_terms[qlo + order_terms[j]]
                b0 = list_block_ptr[t]
                n_blocks = list_block_ptr[t + 1] - b0
                mins[n_all : n_all + n_blocks] = 0.0
                codes[n_all : n_all + n_blocks] = 0.0
                for segment in range(list_seg_ptr[t], list_seg_ptr[t + 1]):
                    first = n_all + (segment - list_seg_ptr[t]) * SEGMENT
                    c_lo, c_hi = seg_comp_ptr[segment], seg_comp_ptr[segment + 1]
                    for p in range(qlo, qhi):  # both sorted: binary search in a shrinking range
                        if c_lo >= c_hi:
                            break
                        term = q_terms[p]
                        c = np.searchsorted(sum_comp[c_lo:c_hi], term) + c_lo
                        c_lo = c
                        if c < c_hi and sum_comp[c] == term:
                            w = q_weights[p]
                            start = comp_sample[c // SAMPLE_EVERY]
                            for i in range(c - c % SAMPLE_EVERY, c):
                                start += comp_count[i]
                            for e in range(np.uint64(start), np.uint64(start + comp_count[c])):
                                blk = np.uint64(first) + np.uint64(sum_block[e])
                                mins[blk] += w
                                codes[blk] += w * sum_code[e]
                for blk in range(n_blocks):
                    dots[n_all + blk] = (
                        block_min[b0 + blk] * mins[n_all + blk] + block_step[b0 + blk] * codes[n_all + blk]
                    )
                    blocks[n_all + blk] = b0 + blk
                n_all += n_blocks
            # Blocks best summary first, across all the lists: the heap fills with strong
            # documents at once, and the first block that cannot compete ends the search.
            # They come off a heap rather than a full sort: only the few blocks opened pay
            # log n, where sorting thousands of summaries cost more than scoring the
            # documents. Keys are inverted rank keys, so the min-heap's root is the best
            # summary (ties: lower r first) and a key's low 32 bits are r itself.
            for r in range(n_all):
                order_keys[r] = ~rank_key(_bits(dots[r], f32, u32), LOW32 - np.uint64(r))
            for r in range(n_all // 2 - 1, -1, -1):
                sift_down_min(order_keys, r, n_all)
            remaining = n_all
            n_opened = 0
            size = 0
            threshold = -np.inf
            scored = 0
            while remaining > 0:
                r = np.int64(order_keys[0] & LOW32)
                remaining -= 1
                order_keys[0] = order_keys[remaining]
                sift_down_min(order_keys, 0, remaining)
                if size == k and dots[r] < heap_factor * threshold:
                    break
                b = blocks[r]
                opened[n_opened] = b
                n_opened += 1
                n_new = 0
                for i in range(np.uint64(block_doc_ptr[b]), np.uint64(block_doc_ptr[b + 1])):  # unvisited first...
                    d = np.int64(block_docs[i])
                    byte = np.uint64(d) >> np.uint64(3)
                    bit = np.uint8(1) << np.uint8(d & 7)
                    if not (visited[byte] & bit) and d != exclude[q]:
                        visited[byte] |= bit
                        prefetch(fwd_ptr, d)  # its row's bounds, read in the next pass
                        pending[n_new] = d
                        n_new += 1
                for j in range(n_new):  # a separate pass: a row loop here waited on each bound
                    d = pending[j]
                    for line in range(fwd_ptr[d], fwd_ptr[d + 1], entries_per_line):
                        prefetch(fwd_entries, line)  # rows arrive while earlier ones are scored
                scored += n_new
                j = 0
                while j < n_new:  # ...then their scores, four rows at a time
                    if j + 4 <= n_new:
                        _dot4(dense, fwd_entries, fwd_ptr, pending, j, term_bits, four)
                        width = 4
                    else:
                        four[0] = _dot(dense, fwd_entries, fwd_ptr[pending[j]], fwd_ptr[pending[j] + 1], term_bits)
                        width = 1
                    for w in range(width):
                        s = four[w] * fwd_scale
                        # Most documents lose to the k-th score: skip their id-rank lookup, a
                        # random access (a sizeable share of the search time in bench_search).
                        if s <= 0 or (size == k and s < threshold):
                            continue
                        key = rank_key(_bits(s, f32, u32), id_rank[pending[j + w]])
                        size = offer(heap, size, k, key)
                        if size == k:
                            threshold = score_of(heap[0], f32, u32)
                    j += width
            n_neighbours = 0
            if hops > 0:
                results[:size] = heap[:size]  # the heap changes as neighbours enter
                for r in range(size):
                    source = doc_by_rank[np.int64(results[r] & LOW32)]
                    for j in range(hops):
                        d = np.int64(knn[source, j])
                        if d < 0:
                            break
                        byte = np.uint64(d) >> np.uint64(3)
                        bit = np.uint8(1) << np.uint8(d & 7)
                        if visited[byte] & bit or d == exclude[q]:
                            continue
                        visited[byte] |= bit
                        neighbours[n_neighbours] = d
                        n_neighbours += 1
                        s = _dot(dense, fwd_entries, fwd_ptr[d], fwd_ptr[d + 1], term_bits) * fwd_scale
                        if s <= 0 or (size == k and s < threshold):
                            continue
                        size = offer(heap, size, k, rank_key(_bits(s, f32, u32), id_rank[d]))
                        if size == k:
                            threshold = score_of(heap[0], f32, u32)
            out_count[q] = write_ranked(heap, size, doc_by_rank, f32, u32, out_doc[q], out_score[q])
            out_scored[q] = scored + n_neighbours
            for p in range(qlo, qhi):
                dense[q_terms[p]] = 0.0
            for o in range(n_opened):  # every set bit came from an opened block or a neighbour
                for i in range(block_doc_ptr[opened[o]], block_doc_ptr[opened[o] + 1]):
                    visited[block_docs[i] >> 3] = 0
            for j in range(n_neighbours):
                visited[neighbours[j] >> 3] = 0
