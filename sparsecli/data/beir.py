"""BEIR folders: corpus.jsonl (`_id`, `title`, `text`), queries.jsonl (`_id`, `text`),
qrels/<split>.tsv (`query-id corpus-id score`, with a header line); any of them gzipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from sparsecli.data.qrels import grade
from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import InputError
from sparsecli.io.textfile import iter_lines


def read_jsonl(path: Path) -> Iterator[tuple[str, dict]]:
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(
                f"malformed JSON ({err.msg}, column {err.colno})", where=where, fix="fix or remove this line"
            ) from None
        if not isinstance(record, dict):
            raise InputError("expected a JSON object", where=where, fix="write one object per line")
        yield where, record


def _field(record: dict, name: str, where: str, required: bool = False) -> str:
    value = record.get(name)
    if value is None:
        if required:
            raise InputError(f'missing "{name}"', where=where, fix=f'give every record a "{name}"')
        return ""
    if isinstance(value, (dict, list)):
        raise InputError(f'"{name}" must be a string', where=where, fix="store plain text")
    return str(value)


def read_docs(path: Path) -> Iterator[Doc]:
    for where, record in read_jsonl(path):
        yield Doc(
            _field(record, "_id", where, True), _field(record, "title", where), _field(record, "text", where), where
        )


def read_queries(path: Path) -> Iterator[Query]:
    for where, record in read_jsonl(path):
        yield Query(_field(record, "_id", where, True), _field(record, "text", where), where)


QRELS_HEADER = ("query-id", "query_id", "qid")  # first column names of a header line


def read_qrels(path: Path) -> Iterator[Qrel]:
    for number, line in iter_lines(path):
        parts = line.split("\t")
        if not line.strip():
            continue
        if number == 1 and parts[0].strip() in QRELS_HEADER:
            continue  # the header line
        where = f"{path}:{number}"
        if len(parts) != 3:
            raise InputError(
                f"expected 3 tab-separated fields (query-id, corpus-id, score), found {len(parts)}",
                where=where,
                fix="use BEIR's qrels layout",
            )
        yield Qrel(parts[0].strip(), parts[1].strip(), grade(parts[2].strip(), where), where)
