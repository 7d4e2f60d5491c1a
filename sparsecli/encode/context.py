"""What every encoder receives besides its config, and what it returns."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple, Optional

from sparsecli.io.vectors import SparseVectors
from sparsecli.runs.world import ALONE, World


def document_text(title: str, text: str, fields) -> str:
    """The text an encoder reads: the chosen fields, in the configured order, joined by a space."""
    parts = {"title": title, "text": text}
    return " ".join(parts[f] for f in fields if parts[f])


def _ignore(done: int, total: Optional[int]) -> None:
    pass


def _as_is(threads: int) -> int:
    return threads


class EncodeContext(NamedTuple):
    workdir: Path  # scratch space inside the run directory; survives an interruption
    total_docs: Optional[int] = None  # for progress bars
    threads: int = 0  # as asked: 0 = the library's default (all cores)
    seed: int = 0
    # Called with (shards done, shards in all) as resumable shards are kept in workdir.
    checkpoint: Callable[[int, Optional[int]], None] = _ignore
    # Called with the thread count the encoder's library actually runs on; returns it.
    uses_threads: Callable[[int], int] = _as_is
    workers: int = 1  # processes encoding document shards (learned sparse encoders)
    world: World = ALONE  # torchrun's processes, which split the document shards as workers do
    backend: str = "processes"  # where the workers run: processes here, or Ray actors ("ray")


class Encoded(NamedTuple):
    docs: SparseVectors
    queries: SparseVectors
    vocab: list[str]  # column j's token
    stats: dict
    docs_folder: Optional[Path] = None  # set when `docs` is already saved there (streamed from shards)
