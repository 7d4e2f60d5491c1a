"""Learned sparse encoders: SPLADE, inference-free, uniCOIL and any doc x query combination.

Documents are tokenized in one pass, then encoded in batches cut from the whole collection
in one fixed order, shard by shard (resumable; see shards.py); queries in one pass.
"""

from __future__ import annotations

import logging
from itertools import islice
from typing import Iterable, Iterator

import numpy as np

from sparsecli import ui
from sparsecli.encode.lsr import ray_backend, workers
from sparsecli.encode.lsr.config import LSRConfig, SideType
from sparsecli.encode.context import EncodeContext, Encoded, document_text
from sparsecli.encode.lsr.shards import ShardStore, TokenTable, shard_docs
from sparsecli.encode.lsr.sides import IDFSide, Side, SideFactory, Tokens
from sparsecli.errors import ConfigError
from sparsecli.runs import world
from sparsecli.runs.world import cores
from sparsecli.io.arrays import StringArray
from sparsecli.io.vectors import SparseVectors

log = logging.getLogger(__name__)


TOKENIZE_CHUNK = 4096  # documents per tokenizer call in the first pass


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _tokenize(docs, fields: list[str], side: Side, total: int | None) -> tuple:
    """The first pass: every document's token ids, lengths, pooling starts and ids."""
    parts, lengths, pool_start, doc_ids = [], [], [], []
    with ui.progress("tokenize docs", total=total, unit="docs") as bar:
        for chunk in _chunks(docs, TOKENIZE_CHUNK):
            for tokens in side.tokenize([document_text(title, text, fields) for _, title, text in chunk]):
                parts.append(np.asarray(tokens.ids, dtype=np.int32))
                lengths.append(len(tokens.ids))
                pool_start.append(tokens.pool_start)
            doc_ids.extend(doc_id for doc_id, _, _ in chunk)
            bar.advance(len(chunk))
    return parts, lengths, pool_start, doc_ids


def document_frequencies(tokens: TokenTable, special: np.ndarray, size: int) -> np.ndarray:
    """int64 [size]: in how many documents each token occurs, over the tokens the document
    side reads (after pool_start: echo's second copy), special tokens excluded."""
    df = np.zeros(size, dtype=np.int64)
    offsets = tokens.offsets
    for lo in range(0, tokens.n_docs, TOKENIZE_CHUNK):  # chunks bound the memory of np.unique
        hi = min(lo + TOKENIZE_CHUNK, tokens.n_docs)
        ids = np.asarray(tokens.ids[offsets[lo] : offsets[hi]], dtype=np.int64)
        doc = np.repeat(np.arange(hi - lo), np.diff(offsets[lo : hi + 1]))
        keep = np.arange(len(ids)) >= (offsets[lo:hi] - offsets[lo] + tokens.pool_start[lo:hi])[doc]
        keep &= ~np.isin(ids, special)
        pairs = np.unique(doc[keep] * size + ids[keep])
        df += np.bincount(pairs % size, minlength=size)
    return df


def _encode_shards(side: Side, tokens: TokenTable, store: ShardStore, config: LSRConfig, n_cols: int,
                   context: EncodeContext) -> SparseVectors | None:  # fmt: skip
    """The second pass: batches in length order, shard by shard, skipping finished shards;
    with context.workers > 1, the missing shards dealt out to that many processes
    (workers.py), or taken by that many Ray actors (ray_backend.py); under torchrun, dealt
    out to its ranks, rank 0 then merging every rank's shards (None on the other ranks)."""
    ranks = context.world
    per_shard = store.docs_per_shard
    n_shards = -(-tokens.n_docs // per_shard)
    sizes = np.minimum(per_shard, tokens.n_docs - per_shard * np.arange(n_shards))
    if ranks.leader:
        store.drop_other_sizes()
    seen = {i for i in range(n_shards) if store.has(i)}
    context.checkpoint(len(seen), n_shards)
    if seen and ranks.leader:
        log.info("resuming: %d of %d shards were already encoded", len(seen), n_shards)
    missing = [i for i in range(n_shards) if i not in seen]
    on_ray = context.backend == "ray" and ranks.size == 1 and bool(missing)
    if ranks.size > 1:  # rank 0's view of the work folder, before any rank writes to it
        missing = world.broadcast_list(missing)
        seen = set(range(n_shards)) - set(missing)
        dealt = workers.deal(missing, ranks.size)
        dealt = [dealt[ranks.rank] if ranks.rank < len(dealt) else ()]  # this rank's; the others encode theirs
    elif on_ray:
        dealt = [()]  # the actors take every missing shard; this process merges
    else:
        dealt = workers.deal(missing, context.workers)
    threads = torch_threads(context.threads, max(context.workers, ranks.local_size))
    jobs = [workers.Job(config, context.workdir, per_shard, n_cols, rank, shards, threads, context.seed)
            for rank, shards in enumerate(dealt) if rank > 0]  # fmt: skip
    if jobs:
        shared = (
            " (runtime.threads=0: the cores shared out; the bytes match other worker counts at one runtime.threads)"
        )
        log.info("%d shards to encode by %d workers, %d threads each%s", n_shards - len(seen), len(dealt), threads,
                 shared if context.threads == 0 else "")  # fmt: skip
        if len(dealt) * threads > cores():
            log.warning("%d workers x %d threads oversubscribe the %d cores this process may use: it will be "
                        "slower, not faster", len(dealt), threads, cores())  # fmt: skip

    def finished() -> None:
        context.checkpoint(store.finished(n_shards), n_shards)

    with ui.progress("encode docs", total=tokens.n_docs, unit="docs") as bar:
        bar.advance(int(sizes[sorted(seen)].sum()) if seen else 0)
        if on_ray:

            def written(index: int) -> None:
                seen.add(index)
                bar.advance(int(sizes[index]))
                finished()

            ray_backend.encode(config, context.workdir, per_shard, n_cols, missing, context.workers, threads,
                               context.seed, written)  # fmt: skip
        spawned = workers.start(jobs)
        try:
            workers.encode_shards(side, tokens, store, config.batch_size, n_cols, dealt[0], bar.advance, finished)
            seen |= set(dealt[0])
            workers.wait(spawned, store, n_shards, sizes, bar.advance, seen)
        finally:
            workers.stop(spawned)  # interrupted or failed: each loses only the shard it was writing
        if ranks.size > 1:
            world.barrier()  # every rank's shards are written
            if not ranks.leader:
                return None
            bar.advance(int(sizes[sorted(set(missing) - seen)].sum()) if set(missing) - seen else 0)
    finished()
    return store.merge(n_shards, context.workdir / "docs", tokens, n_cols)


def torch_threads(threads: int, workers: int) -> int:
    """Threads each encoding process runs: runtime.threads, or the cores this process may use
    shared out (0). Bytes are identical for any worker count at the same threads per worker."""
    return threads if threads > 0 else max(1, cores() // workers)


def _factory(config: LSRConfig) -> SideFactory:
    return SideFactory(config.load_options(), config.batch_size, config.compile, config.sparse_format.value)


def document_side(config: LSRConfig, tokens: TokenTable, n_cols: int) -> Side:
    """The document side as encode() builds it, corpus IDF included: what a worker encodes with."""
    side = _factory(config).build("doc", config.doc)
    if isinstance(side, IDFSide) and side.idf is None:
        side.set_corpus_df(document_frequencies(tokens, side.special, n_cols), tokens.n_docs)
    return side


def shard_rows(side: Side, tokens: TokenTable, positions: np.ndarray, batch_size: int, n_cols: int,
               advance) -> SparseVectors:  # fmt: skip
    """One shard's CSR rows: its documents (`positions`, in length order) batch by batch."""
    batches = range(0, len(positions), batch_size)
    return _stack(
        [_batch_rows(side, tokens, positions[start : start + batch_size], advance) for start in batches], n_cols
    )


def _batch_rows(side: Side, tokens: TokenTable, positions: np.ndarray, advance) -> tuple:
    """CSR rows of one batch: the documents at `positions`, in that order."""
    offsets = tokens.offsets
    batch = [Tokens(tokens.ids[offsets[p] : offsets[p + 1]], int(tokens.pool_start[p])) for p in positions.tolist()]
    rows = side.rows(batch)
    advance(len(batch))
    return rows


def _stack(batches: list[tuple], n_cols: int) -> SparseVectors:
    """Consecutive batches' CSR rows as one matrix (ids are kept by the token table)."""
    indptr = [np.zeros(1, np.int64)]
    nnz = 0
    for batch_ptr, _, _ in batches:
        indptr.append(batch_ptr[1:] + nnz)
        nnz += int(batch_ptr[-1])
    return SparseVectors(
        np.concatenate(indptr),
        np.concatenate([b[1] for b in batches]).astype(np.int32),
        np.concatenate([b[2] for b in batches]).astype(np.float32),
        StringArray.pack([]),
        n_cols,
    )


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
) -> Encoded | None:
    """Documents and queries as sparse vectors. Under torchrun, rank 0 tokenizes and every
    rank encodes its share of the document shards; rank 0 returns the whole, the others None."""
    import torch

    ranks = context.world
    processes = max(context.workers, ranks.local_size)
    if context.threads > 0 or processes > 1:  # every worker alike: the same bytes for any count
        torch.set_num_threads(torch_threads(context.threads, processes))
    context.uses_threads(torch.get_num_threads())
    torch.manual_seed(context.seed)
    factory = _factory(config)
    doc_side = factory.build("doc", config.doc)
    query_side = factory.build("query", config.query)
    if config.sparse_format.value != "dense" and not factory.sparse_layers:
        from sparsecli.errors import InputError

        csr = config.sparse_format.value == "csr"
        raise InputError(
            "no model here has " + ("csr.safetensors" if csr else "a 2:4 Linear layer of the kernels' shapes"),
            where="encoder.sparse_format",
            fix=("prune with csr=true" if csr else "prune with sparsity.structure=nm sparsity.nm=2:4")
            + ", or pass encoder.sparse_format=dense",
        )
    n_cols = _check_vocabularies(doc_side, query_side)
    log.info("doc side: %s; query side: %s", factory.provenance["doc"], factory.provenance["query"])

    store = ShardStore(context.workdir, shard_docs(config.shard_size, config.batch_size))
    tokens = store.load_tokens() if ranks.leader else None
    if tokens is None and ranks.leader:
        tokens = store.save_tokens(*_tokenize(docs, config.fields, doc_side, context.total_docs))
    elif ranks.leader:
        for _ in docs:  # resuming: the collection is still read through, for its checks and report
            pass
    if ranks.size > 1:
        world.barrier()  # rank 0's token table is in the work folder
        tokens = tokens if tokens is not None else store.load_tokens()
        if tokens is None:
            from sparsecli.errors import InputError

            raise InputError(
                f"rank {ranks.rank} cannot read rank 0's token table",
                where=str(context.workdir),
                fix="put runs_root on storage every node sees",
            )
    corpus_idf = [s for s in (doc_side, query_side) if isinstance(s, IDFSide) and s.idf is None]
    if corpus_idf:  # IDF over what the document side reads
        df = document_frequencies(tokens, doc_side.special, n_cols)
        for side in corpus_idf:
            side.set_corpus_df(df, tokens.n_docs)
    doc_vectors = _encode_shards(doc_side, tokens, store, config, n_cols, context)
    if doc_vectors is None:  # a torchrun rank > 0: its shards are in rank 0's work folder
        return None
    with ui.progress("encode queries", total=len(queries), unit="queries") as bar:
        q_indptr, q_indices, q_data = query_side.encode([text for _, text in queries], bar.advance)
    query_vectors = SparseVectors(q_indptr, q_indices, q_data, StringArray.pack([q for q, _ in queries]), n_cols)
    stats = {
        "flops": flops(doc_vectors, query_vectors),
        "sides": factory.provenance,
        "query_side_uses_model": query_side.uses_model,
        "device": str(getattr(doc_side, "device", "cpu")),
    }
    if config.query.type == SideType.idf:
        stats["query_idf"] = "corpus" if query_side in corpus_idf else config.query.idf_file
    return Encoded(doc_vectors, query_vectors, _vocabulary(doc_side.tokenizer, n_cols), stats, context.workdir / "docs")
