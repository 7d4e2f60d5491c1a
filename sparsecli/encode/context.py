"""What every encoder receives besides its config, and what it returns."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Optional

from sparsecli.io.vectors import SparseVectors


def document_text(title: str, text: str, fields) -> str:
    """The text an encoder reads: the chosen fields, in the configured order, joined by a space."""
    parts = {"title": title, "text": text}
    return " ".join(parts[f] for f in fields if parts[f])


class EncodeContext(NamedTuple):
    workdir: Path  # scratch space inside the run directory; survives an interruption
    total_docs: Optional[int] = None  # for progress bars
    threads: int = 0  # 0 = all cores
    seed: int = 0


class Encoded(NamedTuple):
    docs: SparseVectors
    queries: SparseVectors
    vocab: list[str]  # column j's token
    stats: dict
    docs_folder: Optional[Path] = None  # set when `docs` is already saved there (streamed from shards)
