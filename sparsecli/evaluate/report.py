"""What `sparse eval` reports: the comparison of runs, per-query values, and the table it prints."""

from __future__ import annotations


from sparsecli.evaluate import significance
from sparsecli.evaluate.measures import RunScores


def build_report(
    scored: list[RunScores], measures: list[str], test: str, permutations: int, alpha: float, seed: int
) -> dict:
    """Aggregates of each run, with p-values of every later run against the first."""
    base = scored[0]
    runs = []
    for i, scores in enumerate(scored):
        entry = {
            "name": scores.name,
            "metrics": scores.aggregate,
            "num_queries": len(scores.queries),
            "unjudged_queries": len(scores.unjudged_queries),
            "queries_without_results": len(scores.queries_without_results),
        }
        if i > 0 and test != "none":
            entry["p_values"] = {
                m: significance.compare(base.per_query[m], scores.per_query[m], test, permutations, seed)
                for m in measures
            }
        runs.append(entry)
    return {"measures": measures, "significance": test, "alpha": alpha, "runs": runs}


def per_query_tsv(scored: list[RunScores], measures: list[str]) -> str:
    rows = ["\t".join(["run", "query_id", *measures])]
    for scores in scored:
        for q in scores.queries:
            rows.append("\t".join([scores.name, q, *(f"{scores.per_query[m][q]:.6f}" for m in measures)]))
    return "\n".join(rows) + "\n"


def render(report: dict) -> None:
    from rich.table import Table

    from sparsecli.ui import results_console

    measures = report["measures"]
    runs = report["runs"]
    alpha = report.get("alpha", 0.05)
    table = Table(title="sparse eval", caption=_caption(report))
    labelled = any("label" in entry for entry in runs)  # several runs: what differs between them
    table.add_column("run", overflow="fold")
    for measure in measures:
        table.add_column(measure, justify="right")
    accuracy = sorted({key for entry in runs for key in entry.get("accuracy", {})}, key=lambda a: int(a.split("@")[1]))
    for key in accuracy:
        table.add_column(f"{key} vs exact", justify="right")
    if labelled:
        table.add_column("id", overflow="fold")
    for i, entry in enumerate(runs):
        cells = []
        for measure in measures:
            value = f"{entry['metrics'][measure]:.4f}"
            p = entry.get("p_values", {}).get(measure)
            if i > 0 and p is not None:
                value += f" (p={p:.3g}{'*' if p < alpha else ''})"
            cells.append(value)
        for key in accuracy:
            found = entry.get("accuracy", {}).get(key)
            cells.append("-" if found is None else f"{found:.4f}")
        if labelled:
            cells.append(entry["name"])
        table.add_row(entry.get("label", entry["name"]), *cells)
    results_console().print(table)


def _caption(report: dict) -> str:
    first = report["runs"][0]
    text = f"{first['num_queries']} queries evaluated"
    if first.get("queries_without_results"):
        text += f", {first['queries_without_results']} without results (scored 0)" if report.get("zero_missing") else ""
    if first.get("unjudged_queries"):
        text += f"; {first['unjudged_queries']} run queries not in the qrels"
    if len(report["runs"]) > 1:
        text += f"; p-values vs the first run ({report['significance']}), * p < {report.get('alpha', 0.05)}"
    return text
