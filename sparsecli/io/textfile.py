"""Plain or gzipped text: line-by-line reading with line numbers for error messages, and
reproducible writing (gzip headers carry no timestamp or file name)."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import Iterable, Iterator

from sparsecli.errors import InputError


def open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line without its end-of-line) from a UTF-8 file, gzipped or not.
    Raises InputError naming the file for bytes that are not UTF-8 or a damaged gzip stream."""
    number = 0
    try:
        with open_binary(path) as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise InputError(
                        f"not valid UTF-8 (byte {err.start})",
                        where=f"{path}:{number}",
                        fix="re-encode the file as UTF-8",
                    ) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                yield number, line.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(
            f"damaged gzip data after line {number} ({err})", where=str(path), fix="decompress or re-create the file"
        ) from None


def find_file(folder: Path, name: str) -> Path | None:
    """`name` inside `folder`, or its gzipped twin."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def write_text(path: Path, chunks: Iterable[str], compress: bool = False) -> None:
    with open(path, "wb") as raw:
        stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if compress else raw
        with io.TextIOWrapper(stream, encoding="utf-8", newline="\n") as handle:
            for chunk in chunks:
                handle.write(chunk)
