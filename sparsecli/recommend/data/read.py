"""Readers: a data config to Interactions, in file order.

    atomic  <folder>/<name>.inter (+ <name>.item)          RecBole's atomic files
    p5      <folder>/sequential_data.txt                    `user item item ...`, time order
    table   a CSV/TSV/Parquet file with named columns        sessions too (Diginetica)
    hf      a Hugging Face dataset with named columns

Every reader numbers users and items by first appearance and keeps tokens as strings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from sparsecli.errors import ConfigError, InputError
from sparsecli.io.textfile import iter_lines
from sparsecli.recommend.data import atomic
from sparsecli.recommend.data.config import RecDataConfig, RecFormat, UnknownMeta
from sparsecli.recommend.data.types import Interactions

log = logging.getLogger("sparsecli")

DEFAULT_FILES = {RecFormat.p5: "sequential_data.txt"}
AUTO = "auto"
DEFAULT_TIME = "timestamp"


def data_location(data: RecDataConfig, data_root: Optional[str]) -> Path:
    """The folder or file a config reads: data.path, else <data_root>/<data.local_path>."""
    if data.path:
        return Path(data.path).expanduser()
    if not data_root:
        raise InputError(
            f"data={data.name} is read from below data_root, which is not set",
            where="data_root",
            fix=f"pass data_root=<folder holding {data.local_path}> (or SPARSECLI_DATA_ROOT), or data.path=<folder>",
        )
    return Path(data_root).expanduser() / str(data.local_path)


def item_beside(inter: Path) -> Path:
    """The atomic .item file read with `inter` (<name>.inter or <name>.inter.gz): <name>.item."""
    return (inter.with_suffix("") if inter.suffix == ".gz" else inter).with_suffix(".item")


def input_files(data: RecDataConfig, data_root: Optional[str]) -> list[Path]:
    """The files a config reads (for the run key and for checks before any work); a hub
    dataset reads none here (the run key holds its id and revision instead)."""
    where = data_location(data, data_root)
    field = "data.path" if data.path else "data_root"
    if data.format != RecFormat.hf and not where.exists():
        raise InputError(
            f"{where} does not exist",
            where=field,
            fix=f"point data.path at the folder holding the files of data={data.name} (or at the file itself)"
            if data.path
            else f"pass data_root=<folder holding {data.local_path}> (or SPARSECLI_DATA_ROOT)",
        )
    if data.format == RecFormat.hf:
        files = [where] if where.exists() else []  # a save_to_disk folder; nothing for a hub id
    elif data.format == RecFormat.table:
        files = [where / data.file if data.file else where]
    elif where.is_file():  # the .inter or sequential file itself
        files = [where]
    else:
        name = data.file or DEFAULT_FILES.get(data.format) or f"{where.name}.inter"
        files = [where / name]
    if data.format == RecFormat.atomic and item_beside(files[0]).is_file():
        files.append(item_beside(files[0]))
    if data.item_meta.file:
        folder = where if where.is_dir() else where.parent
        named = folder / data.item_meta.file
        if named not in files:  # the .item beside the .inter, named to choose its fields: read once
            files.append(named)
    for path in files:
        if not path.is_file() and data.format != RecFormat.hf:
            named_by = next(
                (f for f, name in (("data.item_meta.file", data.item_meta.file), ("data.file", data.file))
                 if name and path.name == Path(name).name),
                None,
            )  # fmt: skip
            raise InputError(
                f"{path} not found" + (" (it is a folder)" if path.is_dir() else ""),
                where=named_by or field,
                fix=f"name a file in {where}"
                if named_by
                else f"point {field} at the folder holding the files of data={data.name}",
            )
    return files


def read(data: RecDataConfig, data_root: Optional[str]) -> Interactions:
    """The interactions of `data`, with item metadata aligned to the item numbering."""
    files = input_files(data, data_root)
    if data.format == RecFormat.atomic:
        table = _atomic(files[0], data)
        beside = item_beside(files[0])
        if beside in files and not (data.item_meta.file and files[-1] == beside):  # not named as item_meta.file
            table = _with_meta(table, _atomic_meta(beside, data.columns.item), beside, data)
    elif data.format == RecFormat.p5:
        table = _p5(files[0])
    else:
        frame = (
            _hf_frame(data, data_location(data, data_root))
            if data.format == RecFormat.hf
            else _frame(files[0], data.sep or ("\t" if files[0].suffix in (".tsv", ".tab") else ","))
        )
        table = _from_frame(frame, data, str(files[0]) if files else str(data.path))
    if data.item_meta.file:
        meta_file = files[-1]
        meta = _table_meta(meta_file, data)
        both = next((f for f in meta[1] if f in table.item_meta), None)
        if both is not None:  # one would silently replace the other, for every item
            raise InputError(
                f"metadata field {both!r} is also in {files[1].name}",
                where=f"{meta_file}:1",
                fix="rename one of the two columns, or leave it out with data.item_meta.fields=[...]",
            )
        table = _with_meta(table, meta, meta_file, data)
    if data.item_meta.paths:
        table = table._replace(item_meta=path_levels(table.item_meta, data.item_meta.paths, data.item_meta.path_sep))
    return table


def path_levels(item_meta: dict, paths: list[str], sep: str) -> dict:
    """item_meta with <field>@1..@depth beside each path field: level k's value is the path's
    first k names joined by `sep` (so "Face" under "Skin" and under "Makeup" differ), None
    below an item's depth. A field already a list (a token_seq) is read as the path's names.

    Raises ConfigError when a field is not in the metadata."""
    out = dict(item_meta)
    for name in paths:
        if name not in item_meta:
            raise ConfigError(
                f"no metadata field {name!r} to split into levels",
                where="data.item_meta.paths",
                fix=f"pass fields of: {', '.join(item_meta) or '(the data has no item metadata)'}",
            )
        values = item_meta[name]
        if not any(isinstance(v, list) or (v is not None and sep in str(v)) for v in values):
            log.warning("data.item_meta.path_sep %r occurs in no value of %s: one level", sep, name)
        parts = ([] if v is None else v if isinstance(v, list) else str(v).split(sep) for v in values)
        split = [[str(p).strip() for p in names if p is not None and str(p).strip()] for names in parts]
        for level in range(1, max(map(len, split), default=0) + 1):
            if f"{name}@{level}" in item_meta:
                raise ConfigError(
                    f"the metadata already has a field {name}@{level}",
                    where="data.item_meta.paths",
                    fix=f"rename that column, or leave {name} out of data.item_meta.paths",
                )
            out[f"{name}@{level}"] = [sep.join(names[:level]) if len(names) >= level else None for names in split]
    return out


# ------------------------------------------------------------------ numbering


def _numbered(tokens: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(vocabulary in order of first appearance, int32 code per token)."""
    vocab: dict[str, int] = {}
    codes = np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int32, count=len(tokens))
    return list(vocab), codes


def _interactions(users, items, time, rating, source: str) -> Interactions:
    user_vocab, user_codes = _numbered(users)
    item_vocab, item_codes = _numbered(items)
    return Interactions(user_vocab, item_vocab, user_codes, item_codes, time, rating, {}, source)


def _time_key(columns: list[np.ndarray]) -> np.ndarray:
    """float64 time: the column itself when it is one numeric column, else the dense rank of
    the columns sorted lexicographically (ISO dates sort as strings)."""
    if len(columns) == 1 and columns[0].dtype.kind in "fiu":
        return columns[0].astype(np.float64)
    order = np.lexsort([np.asarray(c) for c in reversed(columns)])
    keys = list(zip(*(np.asarray(c)[order] for c in columns)))
    rank = np.empty(len(order), dtype=np.float64)
    value = -1
    for i, key in enumerate(keys):
        if i == 0 or key != keys[i - 1]:
            value += 1
        rank[order[i]] = value
    return rank


def _time_columns(data: RecDataConfig, available: Sequence[str], where: str) -> list[str]:
    """The time columns to read: [] means file order."""
    wanted = list(data.columns.time)
    if wanted == [AUTO]:
        if DEFAULT_TIME in available:
            return [DEFAULT_TIME]
        log.info("%s has no %s column: interactions keep the file order", where, DEFAULT_TIME)
        return []
    for name in wanted:
        if name not in available:
            raise InputError(
                f"no time column {name!r} (columns: {', '.join(available)})",
                where=f"{where}:1",
                fix="name the time column(s) with data.columns.time=[...], or [auto] for timestamp or file order",
            )
    return wanted


# ------------------------------------------------------------------ atomic


def _atomic(path: Path, data: RecDataConfig) -> Interactions:
    header = atomic.read_header(path)
    columns = data.columns
    atomic.require(header, path, columns.user, ("token",), "data.columns.user")
    atomic.require(header, path, columns.item, ("token",), "data.columns.item")
    times = _time_columns(data, list(header), str(path))
    for name in times:
        atomic.require(header, path, name, ("float",), "data.columns.time")
    rating = columns.rating or ("rating" if "rating" in header else None)
    if rating:
        atomic.require(header, path, rating, ("float",), "data.columns.rating")
    wanted = [columns.user, columns.item, *times, *([rating] if rating else [])]
    numbered = list(atomic.read_rows(path, header, wanted))
    if not numbered:
        raise InputError("no interactions", where=str(path), fix="give at least one row after the header")
    rows = [values for _, values in numbered]
    users = [r[0] for r in rows]
    items = [r[1] for r in rows]
    time_columns = [np.array([r[2 + i] for r in rows], dtype=np.float64) for i in range(len(times))]
    for name, column in zip(times, time_columns):
        gaps = np.flatnonzero(np.isnan(column))
        if len(gaps):
            raise InputError(
                f"{name} is empty",
                where=f"{path}:{numbered[gaps[0]][0]}",
                fix="give every interaction a time, or drop the time column (file order is then the time order)",
            )
    time = _time_key(time_columns) if times else None
    ratings = np.array([r[-1] for r in rows], dtype=np.float32) if rating else None
    return _interactions(users, items, time, ratings, str(path))


def _atomic_meta(
    path: Path, item_field: str, setting: str = "data.columns.item", keep: Sequence[str] = ()
) -> tuple[list[str], dict, list[int]]:
    """(item tokens, {field: values}, line numbers) of a `.item` file: `keep`'s fields, or all."""
    header = atomic.read_header(path)
    atomic.require(header, path, item_field, ("token",), setting)
    fields = list(keep) or [f for f in header if f != item_field]
    missing = [f for f in fields if f not in header]
    if missing:
        raise InputError(
            f"no column {missing[0]!r} (columns: {', '.join(header)})",
            where=f"{path}:1",
            fix="fix data.item_meta.fields",
        )
    items, lines, values = [], [], {f: [] for f in fields}
    for number, row in atomic.read_rows(path, header, [item_field, *fields]):
        items.append(row[0])
        lines.append(number)
        for f, v in zip(fields, row[1:]):
            values[f].append(v)
    return items, values, lines


# ------------------------------------------------------------------ p5


def _p5(path: Path) -> Interactions:
    """One line per user: `user item item ...`; items in time order, which becomes the time."""
    users, items, seen = [], [], {}
    for number, line in iter_lines(path):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 2:
            raise InputError(
                f"user {tokens[0]} has no items", where=f"{path}:{number}", fix="write `user item item ...` per line"
            )
        if tokens[0] in seen:
            raise InputError(
                f"user {tokens[0]} already had a line ({path}:{seen[tokens[0]]})",
                where=f"{path}:{number}",
                fix="write each user's whole sequence on one line",
            )
        seen[tokens[0]] = number
        users.extend([tokens[0]] * (len(tokens) - 1))
        items.extend(tokens[1:])
    if not users:
        raise InputError("no interactions", where=str(path), fix="write `user item item ...` per line")
    return _interactions(users, items, None, None, str(path))


# ------------------------------------------------------------------ tables (CSV, Parquet, HF)


def _frame(path: Path, sep: str):
    import pandas as pd  # a well-kept reader for CSV and Parquet; every column read as a string

    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path).astype(str)
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(
            f"cannot read as a table ({str(err).splitlines()[0]})", where=str(path), fix="check data.sep"
        ) from None


def _hf_frame(data: RecDataConfig, where: Path):
    import datasets

    try:
        if where.is_dir():
            table = datasets.load_from_disk(str(where))
            if isinstance(table, datasets.DatasetDict):
                table = table[data.hf_split]
        else:
            table = datasets.load_dataset(str(data.path), split=data.hf_split)
    except Exception as err:  # noqa: BLE001  (hub and file errors alike: one line)
        raise InputError(
            f"cannot load the dataset ({err})", where="data.path", fix="pass a hub id or a save_to_disk folder"
        ) from None
    return table.to_pandas().astype(str)


def _from_frame(frame, data: RecDataConfig, where: str) -> Interactions:
    columns = data.columns
    available = list(frame.columns)
    for setting, name in (("user", columns.session or columns.user), ("item", columns.item)):
        if name not in available:
            raise InputError(
                f"no {setting} column {name!r} (columns: {', '.join(available)})",
                where=f"{where}:1",
                fix=f"name it with data.columns.{'session' if columns.session and setting == 'user' else setting}=<column>",
            )
    if len(frame) == 0:
        raise InputError("no interactions", where=where, fix="give at least one row after the header")
    times = _time_columns(data, available, where)
    keys = []
    for name in times:
        values = frame[name].to_numpy()
        numeric = np.array([_number(v) for v in values], dtype=np.float64)
        bad = np.flatnonzero(np.isnan(numeric))
        if 0 < len(bad) < len(values):  # a number column with a gap would sort as text: "10" < "9"
            raise InputError(
                f"time column {name!r} holds {values[bad[0]]!r} among numbers",
                where=f"{where}:{bad[0] + 2}",
                fix="give every row a time, or drop the rows without one",
            )
        # numbers sort as numbers; a column of text (ISO dates) as strings
        keys.append(numeric if len(bad) == 0 else values.astype(str))
    users = frame[columns.session or columns.user].tolist()
    return _interactions(users, frame[columns.item].tolist(), _time_key(keys) if keys else None, None, where)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _table_meta(path: Path, data: RecDataConfig) -> tuple[list[str], dict, list[int]]:
    spec = data.item_meta
    if path.suffix == ".item":  # RecBole's typed, tab-separated header, whatever data.item_meta.sep says
        return _atomic_meta(path, spec.item, "data.item_meta.item", spec.fields)
    frame = _frame(path, spec.sep)
    if spec.item not in frame.columns:
        raise InputError(
            f"no item column {spec.item!r} (columns: {', '.join(frame.columns)})",
            where=f"{path}:1",
            fix="name it with data.item_meta.item=<column>",
        )
    fields = list(spec.fields) or [c for c in frame.columns if c != spec.item]
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise InputError(f"no column {missing[0]!r}", where=f"{path}:1", fix="fix data.item_meta.fields")
    lines = _record_lines(path, spec.sep, len(frame))
    return frame[spec.item].tolist(), {f: frame[f].tolist() for f in fields}, lines


def _record_lines(path: Path, sep: str, rows: int) -> list[int]:
    """The line each of a CSV's `rows` data records starts on, as pandas reads them (blank lines
    skipped, a quoted field may span lines); row numbers + 1 for Parquet, or if csv disagrees."""
    import csv

    counted = list(range(2, rows + 2))
    if path.suffix == ".parquet":
        return counted
    lines, end = [], 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=sep)
            for record in reader:
                start, end = end + 1, reader.line_num
                if record and not (len(record) == 1 and not record[0].strip()):  # pandas skips blank lines
                    lines.append(start)
    except (csv.Error, UnicodeDecodeError, ValueError, TypeError):  # TypeError: a separator csv cannot take
        return counted
    return lines[1:] if len(lines) == rows + 1 else counted  # the first record is the header


def _same_value(a, b) -> bool:
    """Equal metadata values, an empty float (NaN) equal to itself."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


def _with_meta(
    table: Interactions, meta: tuple[list[str], dict, list[int]], path: Path, data: RecDataConfig
) -> Interactions:
    """Metadata aligned with the item numbering; items without a row get None."""
    items, values, lines = meta
    index = {token: i for i, token in enumerate(table.items)}
    aligned = {f: [None] * len(table.items) for f in values}
    unknown = 0
    first_line: dict[int, int] = {}
    for row, (token, line) in enumerate(zip(items, lines)):
        i = index.get(token)
        if i is None:
            if data.unknown_meta_items == UnknownMeta.error:
                raise InputError(
                    f"item {token!r} has metadata but no interaction",
                    where=f"{path}:{line}",
                    fix="check the item id column, or pass data.unknown_meta_items=drop for a larger catalog",
                )
            unknown += 1
            continue
        if i in first_line:  # a repeated row is harmless; of two that disagree, neither can be trusted
            differs = next((f for f in values if not _same_value(aligned[f][i], values[f][row])), None)
            if differs is not None:
                raise InputError(
                    f"item {token!r} has a second metadata row, with another {differs} than line {first_line[i]}",
                    where=f"{path}:{line}",
                    fix="keep one row per item",
                )
            continue
        first_line[i] = line
        for f in values:
            aligned[f][i] = values[f][row]
    if unknown:
        log.info("%s: %d metadata rows name items without interactions (dropped)", path, unknown)
    missing = sum(1 for v in next(iter(aligned.values()), []) if v is None)
    if missing:
        log.info("%s: %d of %d items have no metadata row", path, missing, len(table.items))
    return table._replace(item_meta={**table.item_meta, **aligned})
