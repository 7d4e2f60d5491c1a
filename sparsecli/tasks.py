"""The thin layer between Hydra and the pure steps: one task per command.

Each task receives the composed config from `@hydra.main`, runs inside its run directory
(cache hit, meta.json, atomic artifacts, DONE.json last) and calls Hydra-free code in
`sparsecli/<step>/`. Tasks are module-level functions so that launchers can pickle them.

    sparse encode data=scifact data_root=../shared/data
    sparse index encode_run=<dir>
    sparse search index_run=<dir>
    sparse eval search_run=<dir>
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from omegaconf import DictConfig, OmegaConf

from sparsecli import ui
from sparsecli.errors import ConfigError, InputError, SparseError, UpstreamError
from sparsecli.rundir import WORK, RunDir, compute_key, open_upstream, read_done, remove_path

log = logging.getLogger("sparsecli")

RUN_FILE = "run.trec"


# --------------------------------------------------------------------------- the run protocol


def _to_object(cfg: DictConfig) -> Any:
    try:
        return OmegaConf.to_object(cfg)
    except SparseError:
        raise
    except Exception as err:  # OmegaConf wraps errors raised in __post_init__
        cause = err.__cause__ or err.__context__
        if isinstance(cause, SparseError):
            raise cause from None
        raise ConfigError(str(err).splitlines()[0], fix="check the config values") from None


def _execute(
    command: str,
    cfg: DictConfig,
    body: Callable[[RunDir, Any, Any], None],
    show: Optional[Callable[[RunDir], None]] = None,
    prepare: Optional[Callable[[Any], tuple[Any, dict]]] = None,
) -> None:
    """Run `body(run, conf, prepared)` under the run-directory protocol, or reuse a cached run.

    `prepare(conf)` opens the inputs once and returns them with a fingerprint of their files,
    so that a cached run whose inputs changed on disk is recomputed instead of reused.
    """
    from hydra.core.hydra_config import HydraConfig

    from sparsecli import provenance
    from sparsecli.hydra_app import key_config

    hydra_cfg = HydraConfig.get()
    run = RunDir(hydra_cfg.runtime.output_dir, command, compute_key(command, key_config(cfg)))
    fresh = run.is_fresh()
    try:
        conf = _to_object(cfg)
        ui.configure(conf.runtime.progress.value, conf.runtime.progress_interval)
        prepared, run.inputs = prepare(conf) if prepare else (None, {})
        cached = run.is_complete() and not conf.runtime.force
        if cached and run.done().get("inputs", {}) != run.inputs:
            log.warning("the input files changed since %s was computed; recomputing", run.path)
            cached = False
        if cached:
            log.info("cache hit: %s is complete (runtime.force=true recomputes it)", run.path)
        else:
            run.begin(
                provenance.collect(
                    seed=conf.seed,
                    threads=conf.runtime.threads,
                    argv=sys.argv,
                    overrides=list(hydra_cfg.overrides.task),
                )
            )
            try:
                body(run, conf, prepared)
            except SparseError:
                raise
            except BaseException as err:
                run.fail(f"{type(err).__name__}: {err}")
                raise
            run.finish()
    except SparseError as err:
        _abandon(run, fresh, err.line())
        ui.error(err.line())
        raise SystemExit(err.exit_code) from None
    if show:
        show(run)
    print(run.path, flush=True)


def _abandon(run: RunDir, fresh: bool, reason: str) -> None:
    """After bad input, leave nothing behind: a directory this attempt created is removed."""
    if not fresh:
        if run.started:
            run.fail(reason)
        return
    for name in (".hydra", "logs", "meta.json"):
        remove_path(run.path / name)
    try:
        run.path.rmdir()
    except OSError:
        pass  # something else lives there; leave it


def _upstream(run: RunDir, reference: str, field: str, command: str) -> tuple[Path, dict]:
    path, done = open_upstream(reference, field, command)
    run.upstream[field] = {"path": str(path.resolve()), "key": done["key"]}
    return path, done


def _chained(run_path: Path, done: dict, field: str, command: str) -> Path:
    """The upstream run that `run_path` itself read, found by key if it was moved."""
    info = done.get("upstream", {}).get(field)
    if info is None:
        raise UpstreamError(f"{run_path} records no {field}", where=str(run_path / "DONE.json"), fix="recompute it")
    for candidate in (Path(info["path"]), run_path.parent.parent / command / info["key"]):
        upstream_done = read_done(candidate)
        if upstream_done and upstream_done.get("key") == info["key"]:
            return candidate
    raise UpstreamError(
        f"the {command} run {info['key']} that {run_path} was built from is gone",
        where=info["path"],
        fix=f"recompute it with `sparse {command} ...`",
    )


# --------------------------------------------------------------------------- encode


def _open_data(conf) -> tuple[Any, dict]:
    from sparsecli.data.source import open_source

    source = open_source(conf.data, conf.data_root)
    return source, source.fingerprint


def _encode(run: RunDir, conf, source) -> None:
    import os

    from sparsecli.config import BM25Config, LSRConfig
    from sparsecli.data.collection import checked_docs, load_queries
    from sparsecli.encode import bm25, lsr
    from sparsecli.encode.context import EncodeContext
    from sparsecli.io import jsonl, trec
    from sparsecli.io.textfile import write_text
    from sparsecli.io.vectors import nnz_stats, save_vectors

    encoders = {BM25Config: bm25.encode, LSRConfig: lsr.encode}
    fields = conf.encoder.analyzer.fields if isinstance(conf.encoder, BM25Config) else conf.encoder.fields
    log.info("encode %s (data=%s) with encoder=%s", source.label, conf.data.name, conf.encoder.name)
    with run.timer("read_queries"):
        query_set = load_queries(source, conf.data.max_queries)
    collection_report: dict = {}
    docs = checked_docs(source, conf.data.on_empty, fields, collection_report)
    context = EncodeContext(run.path / WORK, source.count_docs(), conf.runtime.threads, conf.seed)
    with run.timer("encode"):
        encoded = encoders[type(conf.encoder)](
            ((d.doc_id, d.title, d.text) for d in docs),
            [(q.query_id, q.text) for q in query_set.queries],
            conf.encoder,
            context,
        )
    if encoded.docs.n_rows == 0:
        raise InputError("the corpus has no documents", where=source.label, fix="check data.path")
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
            "encoder": OmegaConf.to_container(OmegaConf.structured(conf.encoder), enum_to_str=True),
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


# --------------------------------------------------------------------------- index


def _index(run: RunDir, conf, _prepared) -> None:
    from sparsecli.config import SeismicIndexConfig
    from sparsecli.index import inverted, seismic
    from sparsecli.io.vectors import load_vectors
    from sparsecli.kernels import set_threads

    encode_path, _ = _upstream(run, conf.encode_run, "encode_run", "encode")
    run.extra_meta["numba_threads"] = set_threads(conf.runtime.threads)
    docs = load_vectors(encode_path / "docs")
    params = conf.index
    with run.timer("build"):
        if isinstance(params, SeismicIndexConfig):
            settings = {f: getattr(params, f) for f in seismic.SeismicParams._fields if f != "seed"}
            built = seismic.build(docs, seismic.SeismicParams(**settings, seed=conf.seed))
        else:
            built = inverted.build(docs, params.quantize)
    with run.timer("write"):
        with run.writing("index") as tmp:
            if isinstance(params, SeismicIndexConfig):
                seismic.save(built, tmp)
            else:
                inverted.save(built, tmp, {"index": params.name})
    log.info("index=%s: %d docs", params.name, built.n_docs)


# --------------------------------------------------------------------------- search


def _search(run: RunDir, conf, _prepared) -> None:
    import json

    import numpy as np

    from sparsecli.index import inverted, seismic
    from sparsecli.io import trec
    from sparsecli.io.textfile import write_text
    from sparsecli.io.vectors import load_vectors
    from sparsecli.kernels import set_threads
    from sparsecli.search import approx, exact

    params = conf.search
    index_path, index_done = _upstream(run, conf.index_run, "index_run", "index")
    encode_path = _chained(index_path, index_done, "encode_run", "encode")
    run.extra_meta["numba_threads"] = set_threads(conf.runtime.threads)
    kind = json.loads((index_path / "index" / "manifest.json").read_text(encoding="utf-8")).get("kind")
    approximate = kind == seismic.KIND
    if approximate != (params.name == "approx"):
        raise ConfigError(
            f"search={params.name} cannot search a {kind}",
            where="search",
            fix="use search=approx (or an approx_r* preset) with index=seismic, and search=exact with index=exact",
        )
    with run.timer("load"):
        queries = load_vectors(encode_path / "queries")
        encode_manifest = json.loads((encode_path / "manifest.json").read_text(encoding="utf-8"))
        index = (seismic if approximate else inverted).load(index_path / "index", verify=params.verify_index)
    drop_self = params.drop_self if params.drop_self is not None else encode_manifest["data"]["drop_self"]
    doc_ids = index.doc_ids.tolist()
    query_ids = queries.ids.tolist()
    exclude = np.full(len(query_ids), -1, dtype=np.int32)
    if drop_self:
        position = {d: i for i, d in enumerate(doc_ids)}
        exclude = np.array([position.get(q, -1) for q in query_ids], dtype=np.int32)
    stats: dict = {"k": params.k, "drop_self": drop_self, "search": params.name}
    with run.timer("search"):
        if approximate:
            settings = approx.ApproxParams(params.query_cut, params.heap_factor, params.n_knn)
            ranking, scored = approx.search(index, queries, params.k, settings, exclude, params.batch_size)
            stats.update(
                query_cut=params.query_cut,
                heap_factor=params.heap_factor,
                n_knn=params.n_knn,
                docs_scored_mean=round(float(scored.mean()), 3) if len(scored) else 0.0,
            )
        else:
            ranking = exact.search(index, queries, params.k, exclude, params.batch_size, params.algorithm)
            stats.update(algorithm=params.algorithm)
    if approximate and params.accuracy:
        with run.timer("accuracy"):  # exact top-k on the same float vectors, as ground truth
            truth = exact.search(
                inverted.build(load_vectors(encode_path / "docs")), queries, params.k, exclude, params.batch_size
            )
        for cutoff in sorted({10, params.k}):
            stats[f"accuracy@{cutoff}"] = round(approx.accuracy(ranking, truth, cutoff), 6)
        log.info(
            "accuracy against exact search: %s", {key: v for key, v in stats.items() if key.startswith("accuracy")}
        )

    def lines():
        for q, query_id in enumerate(query_ids):
            count = ranking.counts[q]
            ids = [doc_ids[d] for d in ranking.docs[q, :count]]
            yield trec.run_lines(query_id, ids, ranking.scores[q, :count], params.tag)

    name = RUN_FILE + (".gz" if params.gzip else "")
    with run.timer("write"):
        with run.writing(name) as tmp:
            write_text(tmp, lines(), compress=params.gzip)
        stats.update(
            queries=len(query_ids),
            queries_without_terms=int((np.diff(np.asarray(queries.indptr)) == 0).sum()),
            queries_without_results=int((ranking.counts == 0).sum()),
            run_file=name,
        )
        run.write_json("stats.json", stats)


# --------------------------------------------------------------------------- eval


def _qrels_fingerprint(conf) -> tuple[None, dict]:
    """An explicit eval.qrels file is named in the key by path; its size and mtime catch edits."""
    from sparsecli.io.checksum import stat_fingerprint

    path = Path(conf.eval.qrels) if conf.eval.qrels else None
    return None, stat_fingerprint([path]) if path is not None and path.is_file() else {}


def _run_file(path: Path) -> Path:
    for name in (RUN_FILE, RUN_FILE + ".gz"):
        if (path / name).is_file():
            return path / name
    raise UpstreamError(f"no {RUN_FILE} in {path}", where="search_run", fix="recompute the search run")


def _eval_inputs(conf) -> list[tuple[str, Path, Optional[Path], Optional[str], dict]]:
    """(name, run file, qrels file, qrels sha256, accuracy vs exact) for each entry of search_run."""
    import json

    references = conf.search_run if isinstance(conf.search_run, list) else [conf.search_run]
    entries = []
    for reference in references:
        reference = str(reference)
        if Path(reference).is_file():
            entries.append((reference, Path(reference), None, None, {}))
            continue
        path, done = open_upstream(reference, "search_run", "search")
        name = f"search/{done['key']}"
        index_path = _chained(path, done, "index_run", "index")
        encode_path = _chained(index_path, read_done(index_path), "encode_run", "encode")
        encode_done = read_done(encode_path)
        qrels = encode_path / "qrels.txt"
        sha = encode_done["artifacts"].get("qrels.txt", {}).get("sha256") if encode_done else None
        search_stats = json.loads((path / "stats.json").read_text(encoding="utf-8"))
        accuracy = {key: value for key, value in search_stats.items() if key.startswith("accuracy@")}
        entries.append((name, _run_file(path), qrels if qrels.is_file() else None, sha, accuracy))
    return entries


def _eval(run: RunDir, conf, _prepared) -> None:
    from sparsecli.evaluate import measures as m
    from sparsecli.evaluate import report
    from sparsecli.io import trec

    params = conf.eval
    measures = m.parse_measures(list(params.measures))
    entries = _eval_inputs(conf)
    for name, *_ in entries:
        run.upstream.setdefault("search_run", []).append(name)
    if params.qrels:
        qrels_path = Path(params.qrels)
        if not qrels_path.is_file():
            raise InputError(
                "qrels file not found", where=f"eval.qrels={params.qrels}", fix="pass an existing TREC qrels file"
            )
    else:
        qrels_paths = {(str(q), sha) for _, _, q, sha, _ in entries if q is not None}
        if not qrels_paths or any(q is None for _, _, q, _, _ in entries):
            raise ConfigError(
                "no qrels to evaluate against",
                where="eval.qrels",
                fix="pass eval.qrels=<TREC qrels file> (runs given as files, or encoded with data.split=null, carry none)",
            )
        if len({sha for _, sha in qrels_paths}) > 1:
            raise ConfigError(
                "the runs were encoded with different qrels",
                where="search_run",
                fix="pass eval.qrels=<file> to evaluate all runs against the same judgments",
            )
        qrels_path = Path(sorted(qrels_paths)[0][0])
    qrels = m.qrels_dict(trec.read_qrels(qrels_path))
    zero_missing = params.missing_queries.value == "zero"
    scored = []
    with run.timer("evaluate"):
        for name, run_path, *_ in entries:
            scores = m.score_run(name, trec.read_run(run_path), qrels, measures, zero_missing)
            if scores.unjudged_queries:
                log.warning(
                    "%s: %d queries are not in the qrels (not scored), e.g. %s",
                    name,
                    len(scores.unjudged_queries),
                    scores.unjudged_queries[:5],
                )
            if scores.queries_without_results:
                log.warning(
                    "%s: %d judged queries have no results (%s)",
                    name,
                    len(scores.queries_without_results),
                    "scored 0" if zero_missing else "skipped",
                )
            scored.append(scores)
        names = list(measures)
        result = report.build_report(
            scored, names, params.significance.value, params.permutations, params.alpha, conf.seed
        )
    result.update(qrels=str(qrels_path.resolve()), zero_missing=zero_missing)
    for entry, (*_, accuracy) in zip(result["runs"], entries):
        if accuracy:
            entry["accuracy"] = accuracy  # approximate runs: agreement with exact search
    run.write_json("metrics.json", scored[0].aggregate)
    run.write_json("report.json", result)
    with run.writing("per_query.tsv") as tmp:
        tmp.write_text(report.per_query_tsv(scored, names), encoding="utf-8")


def _show_eval(run: RunDir) -> None:
    import json

    from sparsecli.evaluate.report import render

    render(json.loads((run.path / "report.json").read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- entry points


def encode(cfg: DictConfig) -> None:
    _execute("encode", cfg, _encode, prepare=_open_data)


def index(cfg: DictConfig) -> None:
    _execute("index", cfg, _index)


def search(cfg: DictConfig) -> None:
    _execute("search", cfg, _search)


def eval(cfg: DictConfig) -> None:  # noqa: A001  (the command's name)
    _execute("eval", cfg, _eval, show=_show_eval, prepare=_qrels_fingerprint)


TASKS = {"encode": encode, "index": index, "search": search, "eval": eval}
