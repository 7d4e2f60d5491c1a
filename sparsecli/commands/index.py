"""`sparse index`: an index over an encode run's document vectors.

    sparse index encode_run=runs/encode/<key>                   # index=exact: inverted index
    sparse index encode_run=runs/encode/<key> index=seismic     # approximate (Seismic)

Writes index/ (memory-mappable arrays beside a versioned manifest).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparsecli.commands import Command
from sparsecli.retrieval.config import IndexConfig
from sparsecli.schema import MISSING, CommonConfig, upstream_field


@dataclass
class IndexJob(CommonConfig):
    encode_run: str = upstream_field("encode")  # the directory `sparse encode ...` printed
    index: IndexConfig = MISSING  # an option of the index group: exact, seismic


def body(run, conf: IndexJob) -> None:
    import logging

    from sparsecli.io.vectors import load_vectors
    from sparsecli.kernels import set_threads

    encode_path = run.upstream_run("encode_run", conf.encode_run, "encode")
    run.uses_threads(set_threads(conf.runtime.threads))
    docs = load_vectors(encode_path / "docs")
    with run.timer("build"):
        with run.writing("index") as tmp:
            stats = conf.index.build(docs, tmp, conf.seed)
    logging.getLogger("sparsecli").info("index=%s: %d docs, %d terms", conf.index.name, stats["docs"], stats["terms"])


COMMAND = Command(
    name="index",
    help="Build an index over an encode run's documents (encode_run=, index=).",
    order=20,
    schema=IndexJob,
    body=body,
    version=2,
    groups=("index", "experiment"),
)
