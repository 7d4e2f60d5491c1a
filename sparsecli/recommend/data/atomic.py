"""RecBole atomic files: `<name>.inter`, `<name>.item`, `<name>.user`.

Tab-separated, with a header of `field:type` pairs (RecBole's "Atomic Files" guide): `token`
(a string: "007" and "7" are two items), `token_seq` (space-separated strings; an empty field
is []), `float` and `float_seq`. Our own reader, because the format is the product's input
and its errors must name file:line (pandas would cast "007" to 7 unless told every column).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from sparsecli.errors import InputError
from sparsecli.io.textfile import iter_lines

TYPES = ("token", "token_seq", "float", "float_seq")


def _float(text: str) -> float:
    return float(text) if text.strip() else float("nan")


PARSE: dict[str, Callable[[str], object]] = {
    "token": str,
    "token_seq": lambda text: text.split(),
    "float": _float,
    "float_seq": lambda text: [float(v) for v in text.split()],
}


def read_header(path: Path) -> dict[str, str]:
    """{field: type} of an atomic file's header line. InputError (file:1) for a field without
    a type or with an unknown one."""
    for _, line in iter_lines(path):
        if "\t" not in line and "," in line:
            raise InputError(
                "the header has no tab: atomic files are tab-separated",
                where=f"{path}:1",
                fix="separate the fields with tabs (RecBole's field_separator), or read a CSV with data=interactions",
            )
        header = {}
        for column in line.split("\t"):
            name, _, kind = column.partition(":")
            if kind not in TYPES:
                raise InputError(
                    f"header field {column!r} has {'no type' if not kind else f'unknown type {kind!r}'}",
                    where=f"{path}:1",
                    fix=f"write each header field as name:type, with type one of {', '.join(TYPES)}",
                )
            if name in header:  # a dict would keep one of them, and every row would shift
                raise InputError(
                    f"header field {name!r} appears twice",
                    where=f"{path}:1",
                    fix="give each column its own name",
                )
            header[name] = kind
        return header
    raise InputError("empty file: no header", where=str(path), fix="write a header line such as user_id:token ...")


def require(header: dict[str, str], path: Path, name: str, kinds: tuple[str, ...], setting: str) -> None:
    """Field `name` is in the header with one of `kinds`; InputError at file:1 otherwise."""
    if name not in header:
        raise InputError(
            f"no {name!r} column (columns: {', '.join(header)})",
            where=f"{path}:1",
            fix=f"name the column with {setting}=<column>",
        )
    if header[name] not in kinds:
        raise InputError(
            f"column {name!r} is {name}:{header[name]}, expected {' or '.join(f'{name}:{k}' for k in kinds)}",
            where=f"{path}:1",
            fix=f"fix the header type (ids are tokens: '007' and '7' differ; times are floats), or set {setting}",
        )


def read_rows(path: Path, header: dict[str, str], wanted: list[str]) -> Iterator[tuple[int, list]]:
    """(line number, [parsed value of each wanted field]) for every data row."""
    names = list(header)
    positions = [names.index(w) for w in wanted]
    parsers = [PARSE[header[w]] for w in wanted]
    lines = iter_lines(path)
    next(lines, None)
    for number, line in lines:
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            raise InputError(
                f"{len(fields)} tab-separated fields, the header has {len(names)}",
                where=f"{path}:{number}",
                fix="separate fields with tabs and give every header field a value (may be empty)",
            )
        try:
            yield number, [parse(fields[p]) for p, parse in zip(positions, parsers)]
        except ValueError:
            bad = next(w for w, p in zip(wanted, positions) if header[w].startswith("float") and not _parses(fields[p]))
            raise InputError(
                f"{bad}:{header[bad]} value {fields[names.index(bad)]!r} is not a number",
                where=f"{path}:{number}",
                fix="write a number, or declare the column as a token",
            ) from None


def _parses(text: str) -> bool:
    try:
        [float(v) for v in text.split()]
        return True
    except ValueError:
        return False
