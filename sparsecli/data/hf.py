"""Hugging Face datasets in BEIR's columns: a hub name (e.g. `BeIR/scifact`, config `corpus`)
or a local folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from sparsecli.data.qrels import grade
from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import ConfigError, InputError

ID_COLUMNS = ("_id", "id", "doc_id", "query_id")
QREL_COLUMNS = {
    "query": ("query-id", "query_id", "qid"),
    "doc": ("corpus-id", "corpus_id", "doc_id", "docid"),
    "score": ("score", "relevance", "label"),
}


def load_table(path: str | None, name: str | None, split: str | None, revision: str | None, field: str) -> Any:
    """One split of a dataset (a `datasets.Dataset`): from a save_to_disk folder, or by hub
    name through `datasets.load_dataset`. Raises ConfigError for a missing path or split,
    InputError for a folder or hub dataset that cannot be read."""
    if not path:
        raise ConfigError("no dataset given", where=f"{field}.path", fix="pass a hub name or a save_to_disk folder")
    import datasets

    local = Path(path).expanduser()
    if local.is_dir():
        try:
            table = datasets.load_from_disk(str(local))
        except (FileNotFoundError, ValueError) as err:
            raise InputError(
                f"not a saved Hugging Face dataset ({err})",
                where=path,
                fix=f"pass {field}.path=<a folder written by save_to_disk> or a hub name",
            ) from None
    else:
        from sparsecli.io.hub import hub_reachable, offline

        try:
            with offline(not hub_reachable()):  # the local cache only, without a minute of retries
                table = datasets.load_dataset(path, name, split=split, revision=revision)
        except (OSError, ValueError) as err:  # no network, not on the hub, an unknown config or split
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise InputError(
                f"cannot load the Hugging Face dataset {path} ({reason})",
                where=f"{field}.path",
                fix="check the name, config and split, or read a local copy: data_root=<folder> or "
                f"{field}.path=<a save_to_disk folder>",
            ) from None
    if isinstance(table, datasets.DatasetDict):
        if split is None and len(table) == 1:
            split = next(iter(table))
        if split not in table:
            raise ConfigError(
                f"split {split!r} not in {path}", where=f"{field}.split", fix=f"choose one of: {', '.join(table)}"
            )
        table = table[split]
    return table


def _column(table: Any, candidates: tuple[str, ...], label: str) -> str:
    for name in candidates:
        if name in table.column_names:
            return name
    raise InputError(
        f"no {label} column (looked for {', '.join(candidates)}; found {', '.join(table.column_names)})",
        where=str(getattr(table, "info", None) and table.info.dataset_name or "dataset"),
        fix="rename the column to BEIR's name",
    )


def read_docs(table: Any, label: str) -> Iterator[Doc]:
    id_col = _column(table, ID_COLUMNS, "id")
    has_title = "title" in table.column_names
    for number, row in enumerate(table, start=1):
        yield Doc(
            str(row[id_col]), (row["title"] or "") if has_title else "", row.get("text") or "", f"{label} row {number}"
        )


def read_queries(table: Any, label: str) -> Iterator[Query]:
    id_col = _column(table, ID_COLUMNS, "id")
    for number, row in enumerate(table, start=1):
        yield Query(str(row[id_col]), row.get("text") or "", f"{label} row {number}")


def read_qrels(table: Any) -> Iterator[Qrel]:
    q, d, s = (_column(table, names, label) for label, names in QREL_COLUMNS.items())
    label = str(getattr(table, "info", None) and table.info.dataset_name or "qrels")
    for number, row in enumerate(table, start=1):
        where = f"{label} row {number}"
        yield Qrel(str(row[q]), str(row[d]), grade(row[s], where), where)
