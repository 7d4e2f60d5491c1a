"""`sparse search`: rank documents for an encode run's queries over an index run.

    sparse search index_run=runs/index/<key>                         # exact top-1000
    sparse search index_run=runs/index/<key> search=approx_r95        # over index=seismic
    sparse search -m index_run=runs/index/<key> search.k=10,100,1000   # a sweep

Writes run.trec (or run.trec.gz) and stats.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sparsecli.commands import Command
from sparsecli.retrieval.config import SearchConfig
from sparsecli.schema import MISSING, CommonConfig, upstream_field

RUN_FILE = "run.trec"


@dataclass
class SearchJob(CommonConfig):
    index_run: str = upstream_field("index")  # the directory `sparse index ...` printed
    search: SearchConfig = MISSING  # an option of the search group: exact, approx, approx_r95, ...


def check(conf: SearchJob) -> None:
    """The search settings fit the index they are given, before anything runs."""
    from sparsecli.errors import ConfigError, UpstreamError
    from sparsecli.runs.rundir import read_json
    from sparsecli.schema import OPTIONS

    manifest = read_json(Path(conf.index_run) / "index" / "manifest.json")
    if manifest is None:
        raise UpstreamError("the index's manifest.json is missing or damaged", where="index_run", fix="rebuild it")
    if manifest.get("kind") != conf.search.index_kind:
        fits = [f"index={s.index_option} with search={n}" for n, s in OPTIONS["search"].items()]
        raise ConfigError(
            f"search={conf.search.name} cannot search index={manifest.get('index', manifest.get('kind'))} "
            f"({conf.index_run})",
            where="search",
            fix=f"pair {' and '.join(sorted(fits))} (or one of its presets); "
            f"this search needs index={conf.search.index_option}",
        )
    conf.search.check_index(manifest)


def body(run, conf: SearchJob) -> None:
    import logging

    import numpy as np

    from sparsecli.io import trec
    from sparsecli.io.textfile import write_text
    from sparsecli.io.vectors import load_vectors
    from sparsecli.kernels import set_threads
    from sparsecli.retrieval.ranking import own_documents

    params = conf.search
    index_path = run.upstream_run("index_run", conf.index_run, "index")
    encode_path = run.chained(index_path, "encode_run", "encode")
    run.uses_threads(set_threads(conf.runtime.threads))
    with run.timer("load"):
        queries = load_vectors(encode_path / "queries")
        encode_manifest = json.loads((encode_path / "manifest.json").read_text(encoding="utf-8"))
        doc_ids = load_vectors(encode_path / "docs").ids.tolist()
    drop_self = params.drop_self if params.drop_self is not None else encode_manifest["data"]["drop_self"]
    query_ids = queries.ids.tolist()
    exclude = own_documents(doc_ids, query_ids) if drop_self else np.full(len(query_ids), -1, dtype=np.int32)
    stats: dict = {"k": params.k, "drop_self": drop_self, "search": params.name}
    with run.timer("search"):
        ranking, found = params.search(index_path / "index", queries, exclude)
    stats.update(found)
    with run.timer("measure"):
        measured = params.measure(ranking, queries, exclude, lambda: load_vectors(encode_path / "docs"))
    if measured:
        logging.getLogger("sparsecli").info("against exact search: %s", measured)
        stats.update(measured)

    name = RUN_FILE + (".gz" if params.gzip else "")
    with run.timer("write"):
        with run.writing(name) as tmp:
            write_text(tmp, trec.ranking_lines(ranking, query_ids, doc_ids, params.tag), compress=params.gzip)
        stats.update(
            queries=len(query_ids),
            queries_without_terms=int((np.diff(np.asarray(queries.indptr)) == 0).sum()),
            queries_without_results=int((ranking.counts == 0).sum()),
            run_file=name,
        )
        run.write_json("stats.json", stats)


def summary(run) -> dict:
    stats = json.loads((run.path / "stats.json").read_text(encoding="utf-8"))
    return {key: value for key, value in stats.items() if key.startswith("accuracy@")}


COMMAND = Command(
    name="search",
    help="Rank documents for the encoded queries and write a TREC run (index_run=, search=).",
    order=30,
    schema=SearchJob,
    body=body,
    groups=("search", "experiment"),
    check=check,
    summary=summary,
)
