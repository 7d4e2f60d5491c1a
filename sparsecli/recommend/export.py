"""A train-rec evaluation as TREC files: users are queries, items are documents.

    run.trec.gz   <user> Q0 <item> <rank> <score> <tag>     the top `rank.top` items per user
    qrels.txt     <user> 0 <item> 1                         the held-out target per user

The order of a run is the evaluator's (ranking.py: ties count against the target). TREC
tools re-sort by score and break ties by item id, so a score that ties the one before it is
written one float32 step lower (strictly_decreasing): ir-measures then reads exactly the ranks
we computed, and every score stays within a few float32 steps of the model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from sparsecli.data.types import Qrel
from sparsecli.io import trec
from sparsecli.recommend import QRELS_FILE, RUN_FILE
from sparsecli.recommend.data.types import Targets
from sparsecli.recommend.ranking import Ranked


def strictly_decreasing(values: np.ndarray) -> np.ndarray:
    """A list's scores (descending float32), each one that ties the one before it lowered to
    the next float32 below it (and those after it only as far as they must stay below it):
    the least change that makes the list strictly decreasing in float32, which is how
    pytrec_eval reads scores (io.trec writes 9 significant digits, which round-trip float32)."""
    v = values.astype(np.float32)
    if len(v) > 1 and (v[1:] >= v[:-1]).any():
        v = v.copy()
        floor = np.float32(-np.inf)
        for i in range(1, len(v)):
            if v[i] >= v[i - 1]:
                v[i] = np.nextafter(v[i - 1], floor)
    return v


def run_lines(ranked: Ranked, targets: Targets, users: Sequence[str], items: Sequence[str], tag: str) -> Iterator[str]:
    for row, user in enumerate(targets.users.tolist()):
        listed = ranked.items[row]
        count = int((listed >= 0).sum())
        scores = strictly_decreasing(ranked.scores[row, :count])
        yield trec.run_lines(users[user], [items[i] for i in listed[:count].tolist()], scores, tag)


def qrels_lines(targets: Targets, users: Sequence[str], items: Sequence[str]) -> Iterator[str]:
    pairs = enumerate(zip(targets.users.tolist(), targets.targets.tolist()), 1)
    return trec.qrels_text(Qrel(users[user], items[target], 1, f"target #{n}") for n, (user, target) in pairs)


def write_split(
    folder: Path, ranked: Ranked, targets: Targets, users: Sequence[str], items: Sequence[str], tag: str
) -> None:
    """RUN_FILE and QRELS_FILE in `folder` (written in place: the caller's folder is temporary)."""
    from sparsecli.io.textfile import write_text

    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / RUN_FILE, run_lines(ranked, targets, users, items, tag), compress=True)
    write_text(folder / QRELS_FILE, qrels_lines(targets, users, items))
