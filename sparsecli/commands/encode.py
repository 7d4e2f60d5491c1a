"""`sparse encode`: a collection's documents and queries to sparse vectors.

    sparse encode data=scifact data_root=../shared/data               # BM25, Anserini's defaults
    sparse encode data=scifact encoder=splade encoder.model=<hub id or folder>
    sparse encode data=beir data.path=<BEIR folder> encoder.k1=1.2
    sparse encode data=scifact encoder=splade runtime.workers=2       # document shards over 2 processes
    torchrun --standalone --nproc_per_node=8 -m sparsecli encode data=msmarco-passage encoder=splade  # a GPU a rank

Writes docs/ and queries/ (CSR arrays), vocab.json, qrels.txt (when the split has qrels),
manifest.json and, with export.jsonl=true, export/{docs,queries}.jsonl.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sparsecli.commands import Command
from sparsecli.data.config import DataConfig
from sparsecli.encode.config import EncoderConfig, ExportConfig
from sparsecli.schema import MISSING, CommonConfig


@dataclass
class EncodeJob(CommonConfig):
    data: DataConfig = MISSING
    encoder: EncoderConfig = MISSING  # an option of the encoder group: bm25, splade, ...
    export: ExportConfig = field(default_factory=ExportConfig)


def inputs(conf: EncodeJob) -> dict:
    from sparsecli.data.source import source_fingerprint

    return {"data": source_fingerprint(conf.data, conf.data_root)}


def check(conf: EncodeJob) -> None:
    import importlib.util

    from sparsecli.errors import ConfigError

    if conf.runtime.backend.value == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("Ray is not installed", where="runtime.backend", fix="pip install 'sparsecli[ray]'")
    conf.encoder.preflight()


def body(run, conf: EncodeJob) -> None:
    import logging
    import os

    import numpy as np

    from sparsecli.data import qrels
    from sparsecli.data.collection import checked_docs, load_queries
    from sparsecli.data.source import open_source
    from sparsecli.encode.context import EncodeContext
    from sparsecli.errors import InputError
    from sparsecli.io import jsonl, trec
    from sparsecli.io.files import remove_path
    from sparsecli.io.textfile import write_text
    from sparsecli.io.vectors import nnz_stats, save_vectors
    from sparsecli.runs.rundir import WORK
    from sparsecli.schema import as_dict

    log = logging.getLogger("sparsecli")
    source = open_source(conf.data, conf.data_root)
    log.info("encode %s (data=%s) with encoder=%s", source.label, conf.data.name, conf.encoder.name)
    if not conf.encoder.sharded():
        if not run.leader:  # torchrun: rank 0 encodes alone
            return
        if conf.runtime.workers > 1:
            log.info("runtime.workers=%d: encoder=%s encodes in this process, on runtime.threads threads",
                     conf.runtime.workers, conf.encoder.name)  # fmt: skip
    with run.timer("read_queries"):
        query_set = load_queries(source, conf.data.max_queries, conf.data.qrels_duplicates)
    collection_report: dict = {}
    docs = checked_docs(source, conf.data.on_empty, conf.encoder.text_fields(), collection_report)
    context = EncodeContext(
        run.path / WORK,
        source.count_docs(),
        conf.runtime.threads,
        conf.seed,
        run.checkpoint,
        run.uses_threads,
        conf.runtime.workers,
        run.world,
        conf.runtime.backend.value,
    )
    with run.timer("encode"):
        encoded = conf.encoder.encode(
            ((d.doc_id, d.title, d.text) for d in docs), [(q.query_id, q.text) for q in query_set.queries], context
        )
    if encoded is None:  # a torchrun rank > 0: its shards are in rank 0's work folder
        return
    if encoded.docs.n_rows == 0:
        raise InputError("the corpus has no documents", where=source.label, fix="check data.path")
    query_ids = encoded.queries.ids.tolist()
    no_terms = [query_ids[q] for q in np.flatnonzero(np.diff(np.asarray(encoded.queries.indptr)) == 0)]
    query_set.report["queries_without_terms"] = len(no_terms)
    if no_terms:
        log.warning(
            "%d of %d queries have no terms after encoding, so they retrieve nothing: e.g. %s",
            len(no_terms),
            len(query_set.queries),
            ", ".join(no_terms[:5]),
        )
    if query_set.qrels is not None:
        absent = qrels.absent_from(query_set.qrels, set(encoded.docs.ids.tolist()))
        query_set.report["judged_docs_absent"] = len(absent)
        if absent:
            log.warning(
                "%d of %d judgments name documents that are not in the corpus (they count as relevant but "
                "can never be retrieved), e.g. %s",
                len(absent),
                len(query_set.qrels),
                ", ".join(f"{q.query_id}/{q.doc_id}" for q in absent[:5]),
            )
    with run.timer("write"):
        with run.writing("docs") as tmp:
            if encoded.docs_folder is not None:
                os.replace(encoded.docs_folder, tmp)  # already streamed to disk from the shards
            else:
                save_vectors(tmp, encoded.docs)
        with run.writing("queries") as tmp:
            save_vectors(tmp, encoded.queries)
        run.write_json("vocab.json", encoded.vocab)
        if query_set.qrels is not None:
            with run.writing("qrels.txt") as tmp:
                write_text(tmp, trec.qrels_text(query_set.qrels))
        if conf.export.jsonl:
            for name, vectors in (("docs", encoded.docs), ("queries", encoded.queries)):
                with run.writing(f"export/{name}.jsonl") as tmp:
                    jsonl.write_vectors(tmp, vectors, encoded.vocab, conf.export.quantize)
        manifest = {
            "encoder": as_dict(conf.encoder),
            "data": {"name": conf.data.name, "source": source.label, "drop_self": conf.data.drop_self},
            "vocab_size": len(encoded.vocab),
            "docs": nnz_stats(encoded.docs.indptr),
            "queries": nnz_stats(encoded.queries.indptr),
            "collection": {**collection_report, **query_set.report},
            "encoder_stats": encoded.stats,
            "has_qrels": query_set.qrels is not None,
        }
        run.write_json("manifest.json", manifest)
    remove_path(run.path / WORK)
    log.info(
        "%d docs (%.1f terms/doc), %d queries (%.1f terms/query), vocabulary %d",
        manifest["docs"]["rows"],
        manifest["docs"]["mean"],
        manifest["queries"]["rows"],
        manifest["queries"]["mean"],
        len(encoded.vocab),
    )


COMMAND = Command(
    name="encode",
    help="Encode a collection's documents and queries into sparse vectors (data=, encoder=).",
    order=10,
    schema=EncodeJob,
    body=body,
    groups=("data", "encoder", "experiment"),
    inputs=inputs,
    check=check,
    help_overrides=("data=beir",),
    workers=True,
    torchrun="shards",
)
