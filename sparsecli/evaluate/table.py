"""The results table printed by `sparse eval` (stdout, since it is a result)."""

from __future__ import annotations

import sys


def render(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    measures = report["measures"]
    runs = report["runs"]
    alpha = report.get("alpha", 0.05)
    table = Table(title="sparse eval", caption=_caption(report))
    table.add_column("run", overflow="fold")
    for measure in measures:
        table.add_column(measure, justify="right")
    for i, entry in enumerate(runs):
        cells = []
        for measure in measures:
            value = f"{entry['metrics'][measure]:.4f}"
            p = entry.get("p_values", {}).get(measure)
            if i > 0 and p is not None:
                value += f" (p={p:.3g}{'*' if p < alpha else ''})"
            cells.append(value)
        table.add_row(entry["name"], *cells)
    Console(file=sys.stdout, soft_wrap=False).print(table)


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
