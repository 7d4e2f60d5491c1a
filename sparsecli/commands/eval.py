"""`sparse eval`: score search runs with ir-measures, and compare them.

    sparse eval search_run=runs/search/<key>                    # a table on stdout
    sparse eval "search_run=[runs/search/<a>,runs/search/<b>]"  # one comparison, p-values vs the first
    sparse eval search_run=<TREC run file> eval.qrels=<TREC qrels file>
    sparse eval search_run=runs/train-rec/<key> eval=rec           # a recommender's test run

Writes metrics.json (the first run's means), per_query.tsv and report.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional

from sparsecli.commands import Command
from sparsecli.evaluate.config import EvalConfig
from sparsecli.schema import CommonConfig, upstream_field

from sparsecli.recommend import QRELS_FILE, RUN_FILE, TEST

REC_RUN, REC_QRELS = f"{TEST}/{RUN_FILE}", f"{TEST}/{QRELS_FILE}"  # a train-rec run's test split


@dataclass
class EvalJob(CommonConfig):
    # A search or train-rec run directory, a TREC run file, or a list of them to compare.
    search_run: Any = upstream_field("search", files=True, also=("train-rec",))
    eval: EvalConfig = field(default_factory=EvalConfig)


class Entry(NamedTuple):
    """One run to evaluate, with what it was evaluated against."""

    name: str  # search/<key>, or the run file's path
    run_file: Path
    qrels: Optional[Path]  # the upstream encode run's qrels.txt; None for a run file
    qrels_sha256: Optional[str]
    accuracy: dict  # approximate runs: accuracy@k against exact search
    settings: dict  # the chain's settings (encode, index, search), dotted, for row labels
    k: Optional[int]  # the search run's search.k; None for a run file (its cut is not known)


def _references(conf: EvalJob) -> list[str]:
    return [str(r) for r in (conf.search_run if isinstance(conf.search_run, list) else [conf.search_run])]


def _run_file(path: Path) -> Path:
    from sparsecli.errors import UpstreamError

    for name in ("run.trec", "run.trec.gz"):
        if (path / name).is_file():
            return path / name
    raise UpstreamError(f"no run.trec in {path}", where="search_run", fix="recompute the search run")


def _entries(conf: EvalJob, run) -> list[Entry]:
    from sparsecli.runs.compare import chain_settings
    from sparsecli.runs.rundir import read_done

    entries = []
    for reference in _references(conf):
        if Path(reference).is_file():
            entries.append(Entry(reference, Path(reference), None, None, {}, {}, None))
            continue
        path = run.upstream_run("search_run", reference, "search", also=("train-rec",))
        done = read_done(path)
        if done["command"] == "train-rec":  # users as queries: its test run against its test targets
            entries.append(
                Entry(
                    f"train-rec/{done['key']}",
                    path / REC_RUN,
                    path / REC_QRELS,
                    done["artifacts"].get(REC_QRELS, {}).get("sha256"),
                    {},
                    chain_settings({"train-rec": path}),
                    json.loads((path / "metrics.json").read_text(encoding="utf-8"))["protocol"].get("top"),
                )
            )
            continue
        index_path = run.chained(path, "index_run", "index")
        encode_path = run.chained(index_path, "encode_run", "encode")
        encode_done = read_done(encode_path)
        qrels = encode_path / "qrels.txt"
        sha = encode_done["artifacts"].get("qrels.txt", {}).get("sha256")
        stats = json.loads((path / "stats.json").read_text(encoding="utf-8"))
        entries.append(
            Entry(
                f"search/{done['key']}",
                _run_file(path),
                qrels if qrels.is_file() else None,
                sha,
                {key: value for key, value in stats.items() if key.startswith("accuracy@")},
                chain_settings({"encode": encode_path, "index": index_path, "search": path}),
                stats.get("k"),
            )
        )
    return entries


def check(conf: EvalJob) -> None:
    from sparsecli.errors import InputError
    from sparsecli.evaluate.measures import parse_measures

    parse_measures(list(conf.eval.measures))
    if conf.eval.qrels and not Path(conf.eval.qrels).is_file():
        raise InputError(
            "is a folder, not a qrels file" if Path(conf.eval.qrels).is_dir() else "qrels file not found",
            where=f"eval.qrels={conf.eval.qrels}",
            fix="pass a qrels file (TREC or BEIR TSV, gzipped or not)",
        )


def _qrels_path(conf: EvalJob, entries: list[Entry]) -> Path:
    from sparsecli.errors import ConfigError

    if conf.eval.qrels:
        return Path(conf.eval.qrels)
    found = {(str(e.qrels), e.qrels_sha256) for e in entries if e.qrels is not None}
    if not found or any(e.qrels is None for e in entries):
        raise ConfigError(
            "no qrels to evaluate against",
            where="eval.qrels",
            fix="pass eval.qrels=<TREC qrels file> (runs given as files, or encoded with data.split=null, carry none)",
        )
    if len({sha for _, sha in found}) > 1:
        raise ConfigError(
            "the runs were judged against different qrels",
            where="search_run",
            fix="pass eval.qrels=<file> to evaluate all runs against the same judgments",
        )
    return Path(sorted(found)[0][0])


def body(run, conf: EvalJob) -> None:
    import logging

    from sparsecli.data.qrels import checked, read_file
    from sparsecli.errors import InputError
    from sparsecli.evaluate import measures as m
    from sparsecli.evaluate import report
    from sparsecli.io import trec
    from sparsecli.runs import compare

    log = logging.getLogger("sparsecli")
    params = conf.eval
    measures = m.parse_measures(list(params.measures))
    entries = _entries(conf, run)
    qrels_path = _qrels_path(conf, entries)
    qrels = m.qrels_dict(checked(read_file(qrels_path), policy=None))  # ours (TREC) or the user's (or BEIR TSV)
    if not qrels:
        raise InputError(
            "the qrels hold no judgments",
            where=str(qrels_path),
            fix="pass a qrels file with judgments (eval.qrels=...)",
        )
    zero_missing = params.missing_queries.value == "zero"
    scored = []
    with run.timer("evaluate"):
        for entry in entries:
            ranked = trec.read_run(entry.run_file)
            # A search run's cut is its k; a run file's is taken to be its longest ranking.
            cut = entry.k if entry.k is not None else max((len(docs) for docs in ranked.values()), default=0)
            deeper = m.too_deep(measures, cut)
            if deeper:
                log.warning(
                    "%s is cut at %d results a query, fewer than the cutoff of %s: those measures count the "
                    "missing ranks as not relevant (search with a larger search.k, train-rec with a larger rank.top, "
                    "or drop them: eval.measures=[...])",
                    entry.name,
                    cut,
                    ", ".join(deeper),
                )
            scores = m.score_run(entry.name, ranked, qrels, measures, zero_missing)
            if scores.unjudged_queries:
                log.warning(
                    "%s: %d queries are not in the qrels (not scored), e.g. %s",
                    entry.name,
                    len(scores.unjudged_queries),
                    scores.unjudged_queries[:5],
                )
            if scores.queries_without_results:
                log.warning(
                    "%s: %d judged queries have no results (%s)",
                    entry.name,
                    len(scores.queries_without_results),
                    "scored 0" if zero_missing else "skipped",
                )
            scored.append(scores)
        names = list(measures)
        result = report.build_report(
            scored, names, params.significance.value, params.permutations, params.alpha, conf.seed
        )
    result.update(qrels=str(qrels_path.resolve()), zero_missing=zero_missing)
    for row, entry, label in zip(result["runs"], entries, compare.labels([e.settings for e in entries])):
        row["settings"] = entry.settings
        if len(entries) > 1 and label:
            row["label"] = label  # what differs from the other runs
        if entry.accuracy:
            row["accuracy"] = entry.accuracy  # approximate runs: agreement with exact search
    run.write_json("metrics.json", scored[0].aggregate)
    run.write_json("report.json", result)
    with run.writing("per_query.tsv") as tmp:
        tmp.write_text(report.per_query_tsv(scored, names), encoding="utf-8")


def show(run) -> None:
    from sparsecli.evaluate.report import render

    render(json.loads((run.path / "report.json").read_text(encoding="utf-8")))


def summary(run) -> dict:
    """A sweep's columns: the evaluated run's settings (the sweep shows what differs), and
    its measures."""
    report = json.loads((run.path / "report.json").read_text(encoding="utf-8"))
    first = report["runs"][0]
    return {"settings": first.get("settings", {}), **first["metrics"]}


COMMAND = Command(
    name="eval",
    help="Score one or more search runs with ir-measures, with paired significance tests (search_run=).",
    order=40,
    schema=EvalJob,
    body=body,
    groups=("eval", "experiment"),
    check=check,
    show=show,
    summary=summary,
)
