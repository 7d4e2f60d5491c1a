"""Per-query and aggregate effectiveness with ir-measures."""

from __future__ import annotations

from typing import Any, NamedTuple

from sparsecli.errors import ConfigError

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


class RunScores(NamedTuple):
    name: str
    per_query: dict[str, dict[str, float]]  # measure -> query id -> value, over `queries`
    aggregate: dict[str, float]  # measure -> mean over `queries`
    queries: list[str]  # the evaluated query ids
    unjudged_queries: list[str]  # in the run, absent from the qrels: reported, not scored
    queries_without_results: list[str]  # judged, absent from the run


def parse_measures(names: list[str]) -> dict[str, Any]:
    import ir_measures

    parsed = {}
    for name in names:
        try:
            parsed[name] = ir_measures.parse_measure(name)
        except (ValueError, NameError, SyntaxError, TypeError, AttributeError):
            raise ConfigError(
                f"unknown measure {name!r}",
                where="eval.measures",
                fix="use ir-measures notation, e.g. nDCG@10, RR@10, R@1000, AP(rel=2)@1000",
            ) from None
    return parsed


def qrels_dict(qrels) -> Qrels:
    out: Qrels = {}
    for qrel in qrels:
        out.setdefault(qrel.query_id, {})[qrel.doc_id] = qrel.relevance
    return out


def too_deep(measures: dict[str, Any], depth: int) -> list[str]:
    """The measures whose cutoff is deeper than a run cut at `depth` results a query (R@1000
    over a search.k=10 run): their values say more about the cut than about the ranking."""
    return [name for name, measure in measures.items() if measure.params.get("cutoff", 0) > depth]


def score_run(name: str, run: Run, qrels: Qrels, measures: dict[str, Any], zero_missing: bool) -> RunScores:
    """Evaluate one run; judged queries absent from the run score 0 when `zero_missing` (trec_eval -c)."""
    import ir_measures

    names = {measure: name for name, measure in measures.items()}
    values: dict[str, dict[str, float]] = {name: {} for name in measures}
    judged_run = {qid: docs for qid, docs in run.items() if qid in qrels}
    if judged_run:
        for metric in ir_measures.iter_calc(list(measures.values()), qrels, judged_run):
            values[names[metric.measure]][metric.query_id] = float(metric.value)
    in_run = set(run)
    queries = sorted(qrels) if zero_missing else sorted(set(qrels) & in_run)
    per_query = {m: {q: values[m].get(q, 0.0) for q in queries} for m in measures}
    aggregate = {m: (sum(v.values()) / len(v) if v else 0.0) for m, v in per_query.items()}
    return RunScores(
        name,
        per_query,
        aggregate,
        queries,
        sorted(in_run - set(qrels)),
        sorted(set(qrels) - in_run),
    )
