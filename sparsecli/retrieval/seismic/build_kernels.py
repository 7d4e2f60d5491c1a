"""Numba kernels that build the Seismic approximate index (Bruch, Nardini, Rulli, Venturini,
SIGIR 2024).

Static pruning of posting lists, blocking of each list by random k-means (documents
assigned on their top `doc_cut` components), a summary per block (coordinate-wise max of its
documents, pruned to a fraction of its L1 mass, quantised to 8 bits), and a forward index.

All per-list work is independent and runs in parallel; every random choice is seeded by the
list's term id, so an index is the same whatever the thread count.
"""

from __future__ import annotations

import numba as nb
import numpy as np


# --------------------------------------------------------------------------- pruning


@nb.njit(cache=True, parallel=True)
def count_above(term_ptr, post_weights, threshold):
    """Per list: postings with weight > threshold, and with weight == threshold."""
    n_terms = len(term_ptr) - 1
    greater = np.zeros(n_terms, dtype=np.int64)
    equal = np.zeros(n_terms, dtype=np.int64)
    for t in nb.prange(n_terms):
        for i in range(term_ptr[t], term_ptr[t + 1]):
            greater[t] += post_weights[i] > threshold
            equal[t] += post_weights[i] == threshold
    return greater, equal


@nb.njit(cache=True, parallel=True)
def prune_lists(term_ptr, post_docs, post_weights, threshold, new_ptr, out_docs):
    """Keep each list's largest weights (ties: lower doc first), as many as new_ptr allows."""
    n_terms = len(term_ptr) - 1
    for t in nb.prange(n_terms):
        lo, hi = term_ptr[t], term_ptr[t + 1]
        size = new_ptr[t + 1] - new_ptr[t]
        if size == 0:
            continue
        order = np.argsort(-post_weights[lo:hi], kind="mergesort")  # stable: docs ascending in ties
        written = 0
        for j in order:
            if written == size:
                break
            if post_weights[lo + j] >= threshold:
                out_docs[new_ptr[t] + written] = post_docs[lo + j]
                written += 1


# --------------------------------------------------------------------------- blocking


@nb.njit(cache=True, parallel=True)
def top_components(fwd_ptr, fwd_terms, fwd_weights, doc_cut):
    """Each document's doc_cut largest components (padded with -1), used to cluster it."""
    n_docs = len(fwd_ptr) - 1
    terms = np.full((n_docs, doc_cut), -1, dtype=np.int32)
    weights = np.zeros((n_docs, doc_cut), dtype=np.float32)
    for d in nb.prange(n_docs):
        lo, hi = fwd_ptr[d], fwd_ptr[d + 1]
        order = np.argsort(-fwd_weights[lo:hi], kind="mergesort")
        for j in range(min(doc_cut, hi - lo)):
            terms[d, j] = fwd_terms[lo + order[j]]
            weights[d, j] = fwd_weights[lo + order[j]]
    return terms, weights


@nb.njit(cache=True)
def _assign(doc, top, centroid_index, scores, n_centroids, allowed):
    """The allowed centroid with the largest (approximate) dot product with doc; ties: lowest.

    top = (terms, weights) of every document's doc_cut largest components; centroid_index =
    (bucket_start, bucket_count, entry_centroid, entry_weight), an inverted index over the
    centroids' full vectors."""
    top_terms, top_weights = top
    bucket_start, bucket_count, entry_centroid, entry_weight = centroid_index
    scores[:n_centroids] = 0.0
    for j in range(top_terms.shape[1]):
        term = top_terms[doc, j]
        if term < 0:
            break
        w = top_weights[doc, j]
        for e in range(bucket_start[term], bucket_start[term] + bucket_count[term]):
            scores[entry_centroid[e]] += w * entry_weight[e]
    best, best_score = -1, -np.inf
    for c in range(n_centroids):
        if allowed[c] and scores[c] > best_score:
            best, best_score = c, scores[c]
    return best


@nb.njit(cache=True, parallel=True)
def cluster_lists(
    list_ptr,
    list_docs,
    n_centroids,
    block_base,
    fwd_ptr,
    fwd_terms,
    fwd_weights,
    top_terms,
    top_weights,
    min_cluster_size,
    seed,
    n_terms,
    n_chunks,
    first_list,
    end_list,
    out_docs,
    out_block_sizes,
    out_n_blocks,
):
    """Split every list into blocks by random k-means; docs ascending within a block.

    Lists [first_list, end_list) are dealt round-robin to n_chunks chunks (more chunks than
    threads evens out lists of very different lengths); each chunk reuses its buffers across
    its lists. The caller walks the lists in slices, to show progress.
    """
    n_lists = len(list_ptr) - 1
    max_len = 1
    max_centroids = 1
    for t in range(n_lists):
        max_len = max(max_len, list_ptr[t + 1] - list_ptr[t])
        max_centroids = max(max_centroids, n_centroids[t])
    top = (top_terms, top_weights)
    for chunk in nb.prange(n_chunks):
        bucket_start = np.zeros(n_terms, dtype=np.int64)
        bucket_count = np.zeros(n_terms, dtype=np.int64)
        cursor = np.zeros(n_terms, dtype=np.int64)
        perm = np.empty(max_len, dtype=np.int64)
        assign = np.empty(max_len, dtype=np.int64)
        scores = np.empty(max_centroids, dtype=np.float32)
        allowed = np.ones(max_centroids, dtype=np.bool_)
        sizes = np.zeros(max_centroids, dtype=np.int64)
        block_start = np.zeros(max_centroids, dtype=np.int64)
        for t in range(first_list + chunk, end_list, n_chunks):
            lo, hi = list_ptr[t], list_ptr[t + 1]
            length = hi - lo
            n_cent = n_centroids[t]
            if length == 0:
                out_n_blocks[t] = 0
                continue
            if n_cent <= 1 or length <= min_cluster_size:
                out_docs[lo:hi] = np.sort(list_docs[lo:hi])
                out_block_sizes[block_base[t]] = length
                out_n_blocks[t] = 1
                continue
            # Random centroids: a partial Fisher-Yates shuffle seeded by the term.
            np.random.seed(seed + t)
            for i in range(length):
                perm[i] = i
            for i in range(n_cent):
                j = i + np.random.randint(length - i)
                perm[i], perm[j] = perm[j], perm[i]
            # An inverted index over the centroids' full vectors: term -> (centroid, weight).
            total = 0
            for c in range(n_cent):
                d = list_docs[lo + perm[c]]
                for i in range(fwd_ptr[d], fwd_ptr[d + 1]):
                    bucket_count[fwd_terms[i]] += 1
                total += fwd_ptr[d + 1] - fwd_ptr[d]
            position = 0
            for c in range(n_cent):
                d = list_docs[lo + perm[c]]
                for i in range(fwd_ptr[d], fwd_ptr[d + 1]):
                    term = fwd_terms[i]
                    if cursor[term] == 0:  # first sight of the term in this list: place its bucket
                        bucket_start[term] = position
                        cursor[term] = position + 1  # +1 so that 0 means "not placed"
                        position += bucket_count[term]
            entry_centroid = np.empty(total, dtype=np.int32)
            entry_weight = np.empty(total, dtype=np.float32)
            for c in range(n_cent):
                d = list_docs[lo + perm[c]]
                for i in range(fwd_ptr[d], fwd_ptr[d + 1]):
                    term = fwd_terms[i]
                    entry_centroid[cursor[term] - 1] = c
                    entry_weight[cursor[term] - 1] = fwd_weights[i]
                    cursor[term] += 1
            allowed[:n_cent] = True
            sizes[:n_cent] = 0
            centroid_index = (bucket_start, bucket_count, entry_centroid, entry_weight)
            for i in range(length):
                assign[i] = _assign(list_docs[lo + i], top, centroid_index, scores, n_cent, allowed)
                sizes[assign[i]] += 1
            # Clusters below min_cluster_size are dissolved; their docs join the best remaining one.
            small = 0
            for c in range(n_cent):
                if sizes[c] < min_cluster_size:
                    allowed[c] = False
                    small += 1
            if 0 < small < n_cent:
                for i in range(length):
                    if not allowed[assign[i]]:
                        sizes[assign[i]] -= 1
                        assign[i] = _assign(list_docs[lo + i], top, centroid_index, scores, n_cent, allowed)
                        sizes[assign[i]] += 1
            for c in range(n_cent):  # reset this list's buckets for the next one
                d = list_docs[lo + perm[c]]
                for i in range(fwd_ptr[d], fwd_ptr[d + 1]):
                    bucket_count[fwd_terms[i]] = 0
                    cursor[fwd_terms[i]] = 0
            # Blocks in centroid order (a counting sort), documents ascending within a block.
            block = 0
            position = lo
            for c in range(n_cent):
                block_start[c] = position
                position += sizes[c]
                if sizes[c] > 0:
                    out_block_sizes[block_base[t] + block] = sizes[c]
                    block += 1
            for i in range(length):
                out_docs[block_start[assign[i]]] = list_docs[lo + i]
                block_start[assign[i]] += 1
            for c in range(n_cent):
                if sizes[c] > 1:
                    end = block_start[c]
                    out_docs[end - sizes[c] : end] = np.sort(out_docs[end - sizes[c] : end])
            out_n_blocks[t] = block


# --------------------------------------------------------------------------- summaries

SEGMENT = 255  # blocks per summary segment, so that block numbers and counts fit in uint8
SAMPLE_EVERY = 16  # one stored entry offset per this many components


@nb.njit(cache=True)
def _mass_cut(values, n, target):
    """The fewest largest of values[:n] whose sum reaches target: returns (v, greater, ties),
    meaning all values > v plus the first `ties` values == v (in their given order).

    A three-way quickselect on mass, O(n) expected; `values` is reordered.
    """
    lo, hi = 0, n
    taken = 0.0
    greater = 0
    while lo < hi:
        pivot = values[lo + (hi - lo) // 2]
        lt, i, gt = lo, lo, hi
        while i < gt:  # [lo, lt) > pivot, [lt, gt) == pivot, [gt, hi) < pivot
            if values[i] > pivot:
                values[i], values[lt] = values[lt], values[i]
                lt += 1
                i += 1
            elif values[i] < pivot:
                gt -= 1
                values[i], values[gt] = values[gt], values[i]
            else:
                i += 1
        above = 0.0
        for j in range(lo, lt):
            above += values[j]
        if taken + above >= target and lt > lo:
            hi = lt  # the cut lies among the larger values
        elif taken + above + (gt - lt) * pivot >= target:
            ties = max(1, int(np.ceil((target - taken - above) / pivot)))
            return pivot, greater + (lt - lo), min(ties, gt - lt)
        else:
            taken += above + (gt - lt) * pivot
            greater += gt - lo
            lo = gt
    return -np.inf, n, 0  # rounding left the target just out of reach: keep everything


@nb.njit(cache=True)
def _block_maxima(block_docs, lo, hi, fwd_ptr, fwd_terms, fwd_weights, mx, touched):
    """Coordinate-wise max of the block's docs into mx; returns how many terms it touched."""
    n = 0
    for i in range(lo, hi):
        d = block_docs[i]
        for e in range(fwd_ptr[d], fwd_ptr[d + 1]):
            term = fwd_terms[e]
            if mx[term] == 0.0:
                touched[n] = term
                n += 1
            if fwd_weights[e] > mx[term]:
                mx[term] = fwd_weights[e]
    return n


@nb.njit(cache=True)
def _summary(block_docs, lo, hi, forward, energy, buffers):
    """A block's summary: its maxima pruned to `energy` of their L1 mass, in touched order.
    forward = (fwd_ptr, fwd_terms, fwd_weights); buffers from _summary_buffers. Writes the
    kept terms and weights into buffers[3] and buffers[4], returns their count, resets mx."""
    fwd_ptr, fwd_terms, fwd_weights = forward
    mx, touched, values, kept_terms, kept_weights = buffers
    n = _block_maxima(block_docs, lo, hi, fwd_ptr, fwd_terms, fwd_weights, mx, touched)
    total = 0.0
    for j in range(n):
        values[j] = mx[touched[j]]
        total += values[j]
    cut, _, ties = _mass_cut(values, n, energy * total)
    kept = 0
    for j in range(n):
        w = mx[touched[j]]
        if w > cut or (w == cut and ties > 0):
            if w == cut:
                ties -= 1
            kept_terms[kept] = touched[j]
            kept_weights[kept] = w
            kept += 1
        mx[touched[j]] = 0.0
    return kept


@nb.njit(cache=True)
def _summary_buffers(n_terms):
    """Scratch of _summary: dense maxima (zeroed), touched terms, values, kept terms/weights."""
    return (
        np.zeros(n_terms, dtype=np.float32),
        np.empty(n_terms, dtype=np.int64),
        np.empty(n_terms, dtype=np.float32),
        np.empty(n_terms, dtype=np.int64),
        np.empty(n_terms, dtype=np.float32),
    )


@nb.njit(cache=True, parallel=True)
def summary_sizes(
    list_block_ptr,
    list_seg_ptr,
    block_doc_ptr,
    block_docs,
    fwd_ptr,
    fwd_terms,
    fwd_weights,
    energy,
    n_terms,
    n_chunks,
    first_list,
    end_list,
    block_lengths,
    distinct,
):
    """For the blocks of lists [first_list, end_list): each block's summary length into
    block_lengths, each segment's count of distinct summary components into distinct."""
    forward = (fwd_ptr, fwd_terms, fwd_weights)
    for chunk in nb.prange(n_chunks):
        buffers = _summary_buffers(n_terms)
        kept_terms = buffers[3]
        stamp = np.full(n_terms, -1, dtype=np.int64)
        for t in range(first_list + chunk, end_list, n_chunks):
            b0 = list_block_ptr[t]
            for b in range(b0, list_block_ptr[t + 1]):
                segment = list_seg_ptr[t] + (b - b0) // SEGMENT
                kept = _summary(block_docs, block_doc_ptr[b], block_doc_ptr[b + 1], forward, energy, buffers)
                block_lengths[b] = kept
                for j in range(kept):
                    if stamp[kept_terms[j]] != segment:
                        stamp[kept_terms[j]] = segment
                        distinct[segment] += 1


@nb.njit(cache=True, parallel=True)
def build_summaries(
    list_block_ptr,
    list_seg_ptr,
    block_doc_ptr,
    block_docs,
    fwd_ptr,
    fwd_terms,
    fwd_weights,
    energy,
    n_terms,
    n_chunks,
    first_list,
    end_list,
    seg_entry_ptr,
    seg_comp_ptr,
    out_block_min,
    out_block_step,
    out_comp,
    out_comp_count,
    out_block,
    out_code,
):
    """Quantised summaries, stored per segment of <= 255 blocks component-major: for each
    component, how many blocks have it, then (block within segment, 8-bit code) pairs, so a
    query scores all blocks of a list in one pass over its own components."""
    forward = (fwd_ptr, fwd_terms, fwd_weights)
    max_entries = 1
    for s in range(len(seg_entry_ptr) - 1):
        max_entries = max(max_entries, seg_entry_ptr[s + 1] - seg_entry_ptr[s])
    for chunk in nb.prange(n_chunks):
        buffers = _summary_buffers(n_terms)
        kept_terms, kept_weights = buffers[3], buffers[4]
        entry_term = np.empty(max_entries, dtype=np.int64)
        entry_block = np.empty(max_entries, dtype=np.uint8)
        entry_code = np.empty(max_entries, dtype=np.uint8)
        for t in range(first_list + chunk, end_list, n_chunks):
            b0, b1 = list_block_ptr[t], list_block_ptr[t + 1]
            for segment in range(list_seg_ptr[t], list_seg_ptr[t + 1]):
                first = b0 + (segment - list_seg_ptr[t]) * SEGMENT
                n = 0
                for b in range(first, min(first + SEGMENT, b1)):
                    kept = _summary(block_docs, block_doc_ptr[b], block_doc_ptr[b + 1], forward, energy, buffers)
                    low, high = kept_weights[:kept].min(), kept_weights[:kept].max()
                    step = (high - low) / 255.0
                    out_block_min[b] = low
                    out_block_step[b] = step
                    for j in range(kept):
                        entry_term[n] = kept_terms[j]
                        entry_block[n] = b - first
                        entry_code[n] = np.uint8(np.rint((kept_weights[j] - low) / step)) if step > 0 else np.uint8(0)
                        n += 1
                order = np.argsort(entry_term[:n], kind="mergesort")  # component-major, blocks ascending
                base = seg_entry_ptr[segment]
                comp = seg_comp_ptr[segment] - 1
                previous = -1
                for j in range(n):
                    e = order[j]
                    if entry_term[e] != previous:
                        previous = entry_term[e]
                        comp += 1
                        out_comp[comp] = previous
                        out_comp_count[comp] = 0
                    out_comp_count[comp] += 1
                    out_block[base + j] = entry_block[e]
                    out_code[base + j] = entry_code[e]


@nb.njit(cache=True)
def comp_samples(comp_count, every):
    """Entry offset of every `every`-th component, so a component's entries are found with a
    few additions of uint8 counts instead of a stored offset per component."""
    samples = np.zeros(len(comp_count) // every + 1, dtype=np.int64)
    offset = 0
    for c in range(len(comp_count)):
        if c % every == 0:
            samples[c // every] = offset
        offset += comp_count[c]
    return samples
