"""Exact top-k by block-max pruning (BMP) over documents in bisection order.

A measured alternative to term-at-a-time, kept for scripts/bench_exact.py and not offered in
the configs: it lost every measurement here, one thread, k = 10 / 100 / 1000:
- SciFact BM25, 8-document blocks in bisection order: 168 / 518 / 1,196 us a query against
  term-at-a-time's 8.2 / 12.8 / 46.4;
- in document order, 0.42x / 0.13x term-at-a-time's speed at k = 10 / 1000 on 1M BM25-like
  synthetic documents, 0.054x / 0.013x on 300k SPLADE-like ones. The synthetic topics have no
  finer structure for the bisection to find: on 100k SPLADE-like documents it lowered the
  share of 8-document blocks whose bound reaches the 10th score only from 17% to 14%.
Its pruning needs documents that cluster into tight blocks (BMP's published wins are on MS
MARCO in bisection order), while term-at-a-time costs one add per query posting.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparsecli.index.inverted import InvertedIndex
from sparsecli.io.vectors import SparseVectors
from sparsecli.search.exact import Ranking, run_kernel


class BlockMaxIndex(NamedTuple):
    block_size: int
    term_ptr: np.ndarray  # int64, n_terms + 1: term t's blocks are [term_ptr[t], term_ptr[t+1])
    block_ids: np.ndarray  # int32, ascending within each term
    block_max: np.ndarray  # float32, the term's largest weight in that block
    fwd_ptr: np.ndarray  # int64: document rows, in position order
    fwd_terms: np.ndarray  # int32
    fwd_weights: np.ndarray  # float32
    pos_doc: np.ndarray  # int32: the document at each position
    id_rank: np.ndarray
    doc_by_rank: np.ndarray
    quantize: float | None


def build(index: InvertedIndex, block_size: int = 8, bisection_rounds: int = 20) -> BlockMaxIndex:
    """Blocks over the index's documents, reordered by graph bisection unless rounds is 0."""
    import numba

    from sparsecli.kernels.blockmax import block_maxima
    from sparsecli.kernels.csr import transpose
    from sparsecli.kernels.reorder import bisection_order

    threads = numba.get_num_threads()
    rows_ptr, rows_terms, rows_weights = transpose(index.term_ptr, index.post_docs, index.post_weights, index.n_docs)
    if bisection_rounds > 0:
        pos_doc = bisection_order(rows_ptr, rows_terms, index.n_terms, block_size, bisection_rounds, threads)
    else:
        pos_doc = np.arange(index.n_docs, dtype=np.int32)
    lengths = np.diff(rows_ptr)[pos_doc]
    fwd_ptr = np.zeros(index.n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=fwd_ptr[1:])
    source = np.repeat(rows_ptr[:-1][pos_doc] - fwd_ptr[:-1], lengths) + np.arange(fwd_ptr[-1])
    fwd_terms, fwd_weights = rows_terms[source], rows_weights[source]
    blocks_ptr, blocks_terms, blocks_max = block_maxima(
        fwd_ptr, fwd_terms, fwd_weights, block_size, index.n_terms, threads
    )
    term_ptr, block_ids, block_max = transpose(blocks_ptr, blocks_terms, blocks_max, index.n_terms)
    return BlockMaxIndex(
        block_size,
        term_ptr,
        block_ids,
        block_max,
        fwd_ptr,
        fwd_terms,
        fwd_weights,
        pos_doc.astype(np.int32),
        index.id_rank,
        index.doc_by_rank,
        index.quantize,
    )


def search(
    index: BlockMaxIndex, queries: SparseVectors, k: int, exclude: np.ndarray | None = None, batch_size: int = 2048
) -> Ranking:
    """Top-k of every query: the same ranking and score bits as exact.search."""
    from sparsecli.kernels.blockmax import search_blockmax

    return run_kernel(search_blockmax, index[:8], index, queries, k, exclude, batch_size)
