"""Exact top-k by block-max pruning (BMP: Mallia, Suel and Tonellotto, SIGIR 2024).

Documents are cut into blocks of consecutive positions. For each term the index keeps the
blocks holding it and the term's largest weight in each, so a query's upper bound for every
block is a term-at-a-time sum over block postings, a fraction of the document postings.
Blocks are then visited from the largest bound down, their documents scored exactly from a
forward index, until a block's bound falls below the k-th score found so far.

Bounds are float32 sums in the query's term order of weight x block maximum, and a score is
the float32 sum in the same order of weight x document weight. Rounding is monotone, so a
bound is never below the score of any document in its block: the pruning is exact without a
margin. Scores are summed exactly as term-at-a-time accumulation sums them, so the ranking
and the score bits are identical to search_taat's.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from sparsecli.kernels.topk import floor_of, offer, rank_key, write_ranked

_BUCKET_SHIFT = 17  # bound buckets 1/64 octave wide below the largest bound
_BUCKETS = 512  # 8 octaves; lower bounds share the last bucket


@nb.njit(cache=True, parallel=True)
def block_maxima(fwd_ptr, fwd_terms, fwd_weights, block_size, n_terms, n_threads):
    """Block-major CSR: for each block, the terms its documents hold and their largest weight."""
    n_pos = len(fwd_ptr) - 1
    n_blocks = (n_pos + block_size - 1) // block_size
    counts = np.zeros(n_blocks + 1, dtype=np.int64)
    n_chunks = min(n_blocks, 4 * n_threads)
    for chunk in nb.prange(n_chunks):
        seen = np.zeros(n_terms, dtype=np.bool_)
        for b in range(chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks):
            lo, hi = fwd_ptr[b * block_size], fwd_ptr[min((b + 1) * block_size, n_pos)]
            n = 0
            for i in range(lo, hi):
                if not seen[fwd_terms[i]]:
                    seen[fwd_terms[i]] = True
                    n += 1
            for i in range(lo, hi):
                seen[fwd_terms[i]] = False
            counts[b + 1] = n
    ptr = np.cumsum(counts)
    terms = np.empty(ptr[-1], dtype=np.int32)
    maxima = np.empty(ptr[-1], dtype=np.float32)
    for chunk in nb.prange(n_chunks):
        slot = np.full(n_terms, -1, dtype=np.int64)
        for b in range(chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks):
            lo, hi = fwd_ptr[b * block_size], fwd_ptr[min((b + 1) * block_size, n_pos)]
            n = ptr[b]
            for i in range(lo, hi):
                t = fwd_terms[i]
                if slot[t] < 0:
                    slot[t] = n
                    terms[n] = t
                    maxima[n] = fwd_weights[i]
                    n += 1
                else:
                    maxima[slot[t]] = max(maxima[slot[t]], fwd_weights[i])
            for i in range(lo, hi):
                slot[fwd_terms[i]] = -1
    return ptr, terms, maxima


@nb.njit(cache=True, parallel=True)
def search_blockmax(
    block_size,
    bm_ptr,
    bm_blocks,
    bm_max,
    fwd_ptr,
    fwd_terms,
    fwd_weights,
    pos_doc,
    q_ptr,
    q_terms,
    q_weights,
    id_rank,
    doc_by_rank,
    exclude,
    k,
    n_threads,
    out_doc,
    out_score,
    out_count,
):
    """Same contract as topk.search_taat. bm_*: term-major block postings (block numbers
    ascending, each with the term's largest weight in it); fwd_*: the documents' rows in
    position order, pos_doc the document at each position."""
    n_queries = len(q_ptr) - 1
    n_terms = len(bm_ptr) - 1
    n_pos = len(pos_doc)
    n_blocks = (n_pos + block_size - 1) // block_size
    n_chunks = min(n_threads, max(n_queries, 1))
    for chunk in nb.prange(n_chunks):
        lo_q = chunk * n_queries // n_chunks
        hi_q = (chunk + 1) * n_queries // n_chunks
        longest = 1
        for q in range(lo_q, hi_q):
            longest = max(longest, q_ptr[q + 1] - q_ptr[q])
        bound = np.zeros(n_blocks, dtype=np.float32)
        bound_bits = bound.view(np.uint32)
        touched = np.empty(n_blocks, dtype=np.int32)
        order = np.empty(n_blocks, dtype=np.int32)
        starts = np.zeros(_BUCKETS + 1, dtype=np.int64)
        q_slot = np.full(n_terms, -1, dtype=np.int32)
        contrib = np.zeros(longest, dtype=np.float32)
        heap = np.empty(max(k, 1), dtype=np.uint64)
        f32 = np.zeros(1, dtype=np.float32)
        u32 = f32.view(np.uint32)
        for q in range(lo_q, hi_q):
            qlo, n = q_ptr[q], q_ptr[q + 1] - q_ptr[q]
            n_touched = 0
            for p in range(n):
                term, weight = q_terms[qlo + p], q_weights[qlo + p]
                q_slot[term] = p
                for j in range(bm_ptr[term], bm_ptr[term + 1]):
                    b = bm_blocks[j]
                    if bound[b] == 0.0:
                        touched[n_touched] = b
                        n_touched += 1
                    bound[b] += weight * bm_max[j]
            # Counting sort of the touched blocks into 1/64-octave buckets below the largest
            # bound: visiting within 1.1% of descending order prunes as well as a full sort.
            top = np.uint32(0)
            for i in range(n_touched):
                top = max(top, bound_bits[touched[i]])
            starts[:] = 0
            for i in range(n_touched):
                bucket = min((np.int64(top) - np.int64(bound_bits[touched[i]])) >> _BUCKET_SHIFT, _BUCKETS - 1)
                starts[bucket + 1] += 1
            for bucket in range(_BUCKETS):
                starts[bucket + 1] += starts[bucket]
            for i in range(n_touched):
                b = touched[i]
                bucket = min((np.int64(top) - np.int64(bound_bits[b])) >> _BUCKET_SHIFT, _BUCKETS - 1)
                order[starts[bucket]] = b
                starts[bucket] += 1
            size = 0
            bar = np.uint32(1)  # score bits a document must reach: positive until the heap fills
            skip = exclude[q]
            first = 0
            for bucket in range(_BUCKETS):
                if np.int64(top) - (np.int64(bucket) << _BUCKET_SHIFT) < np.int64(bar):
                    break  # no bound in this bucket or below reaches the k-th score
                for i in range(first, starts[bucket]):
                    b = order[i]
                    if bound_bits[b] < bar:
                        continue
                    for pos in range(b * block_size, min((b + 1) * block_size, n_pos)):
                        for j in range(fwd_ptr[pos], fwd_ptr[pos + 1]):
                            p = q_slot[fwd_terms[j]]
                            if p >= 0:
                                contrib[p] = q_weights[qlo + p] * fwd_weights[j]
                        score = np.float32(0.0)
                        for p in range(n):  # query order, as term-at-a-time sums
                            score += contrib[p]
                            contrib[p] = 0.0
                        f32[0] = score
                        doc = pos_doc[pos]
                        if u32[0] >= bar and doc != skip:
                            size = offer(heap, size, k, rank_key(u32[0], id_rank[doc]))
                            bar = floor_of(heap, size, k)
                first = starts[bucket]
            for i in range(n_touched):
                bound[touched[i]] = 0.0
            for p in range(n):
                q_slot[q_terms[qlo + p]] = -1
            out_count[q] = write_ranked(heap, size, doc_by_rank, f32, u32, out_doc[q], out_score[q])
    return out_count
