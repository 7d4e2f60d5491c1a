"""Learned sparse encoders: SPLADE, inference-free, uniCOIL and any doc x query combination.

Documents are encoded shard by shard (resumable, bounded memory); queries in one pass.
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import Iterable, Iterator

import numpy as np

from sparsecli import ui
from sparsecli.config import LSRConfig, SideType
from sparsecli.encode.context import EncodeContext, Encoded, document_text
from sparsecli.encode.hf import LoadOptions
from sparsecli.encode.shards import ShardStore
from sparsecli.encode.sides import IDFSide, Side, SideFactory
from sparsecli.errors import ConfigError, InputError
from sparsecli.io.arrays import StringArray
from sparsecli.io.vectors import SparseVectors

log = logging.getLogger(__name__)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def flops(docs: SparseVectors, queries: SparseVectors) -> dict:
    """SPLADE's FLOPS: the expected number of multiplications for a (query, doc) pair,
    sum_j p_j(q) p_j(d), with p_j the fraction of vectors using term j; also sum_j p_j(d)^2."""
    p_doc = np.bincount(np.asarray(docs.indices), minlength=docs.n_cols) / max(docs.n_rows, 1)
    p_query = np.bincount(np.asarray(queries.indices), minlength=queries.n_cols) / max(queries.n_rows, 1)
    return {"query_doc": round(float(p_query @ p_doc), 6), "doc_doc": round(float(p_doc @ p_doc), 6)}


def _check_vocabularies(doc: Side, query: Side) -> int:
    if doc.tokenizer is not query.tokenizer and doc.tokenizer.get_vocab() != query.tokenizer.get_vocab():
        raise ConfigError(
            "the document and query tokenizers have different vocabularies",
            where="encoder.query.model",
            fix="use checkpoints that share a tokenizer, so term ids mean the same on both sides",
        )
    return max(doc.vocab_size, query.vocab_size)


def _vocabulary(tokenizer, size: int) -> list[str]:
    tokens = tokenizer.convert_ids_to_tokens(list(range(min(size, len(tokenizer)))))
    return [t if t is not None else f"[id:{i}]" for i, t in enumerate(tokens)] + [
        f"[id:{i}]" for i in range(len(tokens), size)
    ]


def encode(
    docs: Iterable[tuple[str, str, str]], queries: list[tuple[str, str]], config: LSRConfig, context: EncodeContext
) -> Encoded:
    import torch

    if context.threads > 0:
        torch.set_num_threads(context.threads)
    torch.manual_seed(context.seed)
    options = LoadOptions(None, config.dtype, config.device, config.local_files_only, config.trust_remote_code)
    factory = SideFactory(options, config.batch_size, config.compile)
    doc_side = factory.build("doc", config.doc)
    query_side = factory.build("query", config.query)
    n_cols = _check_vocabularies(doc_side, query_side)
    corpus_idf = isinstance(query_side, IDFSide) and query_side.idf is None
    log.info("doc side: %s; query side: %s", factory.provenance["doc"], factory.provenance["query"])

    store = ShardStore(context.workdir / "shards")
    df = np.zeros(n_cols, dtype=np.int64) if corpus_idf else None
    n_docs, n_shards, resumed = 0, 0, 0
    with ui.progress("encode docs", total=context.total_docs, unit="docs") as bar:
        for index, chunk in enumerate(_chunks(docs, config.shard_size)):
            n_docs += len(chunk)
            n_shards = index + 1
            if store.has(index):
                resumed += 1
                bar.advance(len(chunk))
                if df is not None:
                    df += store.load(index)[1]
                continue
            texts = [document_text(title, text, config.fields) for _, title, text in chunk]
            indptr, indices, data = doc_side.encode(texts, bar.advance)
            shard_df = None
            if df is not None:  # IDF with the query tokenizer, over what the doc side reads
                shard_df = query_side.document_frequencies(texts, config.doc.max_length, n_cols)
                df += shard_df
            ids = StringArray.pack([doc_id for doc_id, _, _ in chunk])
            store.write(index, SparseVectors(indptr, indices, data, ids, n_cols), shard_df)
    if n_docs == 0:
        raise InputError("the corpus has no documents", where="data", fix="check data.path")
    if resumed:
        log.info("resumed: %d of %d shards were already encoded", resumed, n_shards)
    doc_vectors = store.merge(n_shards, context.workdir / "docs", n_cols)
    store.remove()

    if corpus_idf:
        query_side.set_corpus_df(df, n_docs)
    with ui.progress("encode queries", total=len(queries), unit="queries") as bar:
        q_indptr, q_indices, q_data = query_side.encode([text for _, text in queries], bar.advance)
    query_vectors = SparseVectors(q_indptr, q_indices, q_data, StringArray.pack([q for q, _ in queries]), n_cols)
    stats = {
        "flops": flops(doc_vectors, query_vectors),
        "sides": factory.provenance,
        "query_side_uses_model": query_side.uses_model,
        "shards": n_shards,
        "device": str(getattr(doc_side, "device", "cpu")),
    }
    if config.query.type == SideType.idf:
        stats["query_idf"] = "corpus" if corpus_idf else config.query.idf_file
    return Encoded(doc_vectors, query_vectors, _vocabulary(doc_side.tokenizer, n_cols), stats, context.workdir / "docs")
