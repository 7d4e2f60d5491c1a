"""MS MARCO-style TSVs: `pid<TAB>text` (or `pid<TAB>title<TAB>text`), `qid<TAB>text`; qrels in TREC format."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from sparsecli.data.types import Doc, Query
from sparsecli.errors import InputError
from sparsecli.io.textfile import iter_lines


def _rows(path: Path, allowed: tuple[int, ...], layout: str) -> Iterator[tuple[str, list[str]]]:
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t")
        where = f"{path}:{number}"
        if len(parts) not in allowed:
            raise InputError(
                f"expected {' or '.join(map(str, allowed))} tab-separated fields ({layout}), found {len(parts)}",
                where=where,
                fix="check the file's layout; tabs inside text must be replaced by spaces",
            )
        yield where, parts


def read_docs(path: Path) -> Iterator[Doc]:
    for where, parts in _rows(path, (2, 3), "pid, [title,] text"):
        title, text = (parts[1], parts[2]) if len(parts) == 3 else ("", parts[1])
        yield Doc(parts[0].strip(), title, text, where)


def read_queries(path: Path) -> Iterator[Query]:
    for where, parts in _rows(path, (2,), "qid, text"):
        yield Query(parts[0].strip(), parts[1], where)
