"""A train-rec evaluation as TREC files: users are queries, items are documents.

    run.trec.gz   <user> Q0 <item> <rank> <score> <tag>     the top `rank.top` items per user
    qrels.txt     <user> 0 <item> 1                         the held-out target per user

The order of a run is the evaluator's (ranking.py: ties count against the target). TREC
tools re-sort by score and break ties by item id, so a score that ties the one before it is
written one float32 step lower (formatted_scores): ir-measures then reads exactly the ranks
we computed, and every score stays within a few float32 steps of the model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from sparsecli.recommend.data.types import Targets
from sparsecli.recommend.ranking import Ranked


def formatted_scores(values: np.ndarray) -> list[str]:
    """A list's scores (descending float32) as text that TREC tools order exactly as given.

    Each score that ties the one before it is lowered to the next float32 below it (and the
    scores after it only as far as they must stay below it): the least change that makes the
    list strictly decreasing in float32, which is how pytrec_eval reads scores. Written with
    9 significant digits, which round-trip float32."""
    v = values.astype(np.float32)
    if len(v) > 1 and (v[1:] >= v[:-1]).any():
        v = v.copy()
        floor = np.float32(-np.inf)
        for i in range(1, len(v)):
            if v[i] >= v[i - 1]:
                v[i] = np.nextafter(v[i - 1], floor)
    return [f"{x:.9g}" for x in v.astype(np.float64).tolist()]


def run_lines(ranked: Ranked, targets: Targets, users: Sequence[str], items: Sequence[str], tag: str) -> Iterator[str]:
    for row, user in enumerate(targets.users.tolist()):
        listed = ranked.items[row]
        count = int((listed >= 0).sum())
        scores = formatted_scores(ranked.scores[row, :count])
        name = users[user]
        yield "".join(
            f"{name} Q0 {items[i]} {r} {s} {tag}\n" for r, (i, s) in enumerate(zip(listed[:count].tolist(), scores), 1)
        )


def qrels_lines(targets: Targets, users: Sequence[str], items: Sequence[str]) -> Iterator[str]:
    for user, target in zip(targets.users.tolist(), targets.targets.tolist()):
        yield f"{users[user]} 0 {items[target]} 1\n"


def write_split(
    folder: Path, ranked: Ranked, targets: Targets, users: Sequence[str], items: Sequence[str], tag: str
) -> None:
    """run.trec.gz and qrels.txt in `folder` (written in place: the caller's folder is temporary)."""
    from sparsecli.io.textfile import write_text

    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "run.trec.gz", run_lines(ranked, targets, users, items, tag), compress=True)
    write_text(folder / "qrels.txt", qrels_lines(targets, users, items))
