"""Files and folders that appear whole or not at all: atomic replacement and removal."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def temporary_name(final: Path) -> Path:
    """A hidden sibling of `final`, unique to this process, to write before renaming."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `final` to write (a file or a folder); it replaces
    `final` when the block succeeds and is removed when it fails."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    remove_path(tmp)
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    remove_path(final)
    os.replace(tmp, final)


def atomic_write_text(path: Path, text: str) -> None:
    tmp = temporary_name(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def remove_path(path: Path) -> None:
    """Remove a file, a link or a whole folder; nothing if absent."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
