"""The `encoder` group's base class, and the export options every encode run shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Optional

from sparsecli.schema import MISSING, check

if TYPE_CHECKING:
    from sparsecli.encode.context import EncodeContext, Encoded


@dataclass
class EncoderConfig:
    """Base of the `encoder` group: one subclass per family of encoders, each beside its code."""

    name: str = MISSING

    def text_fields(self) -> list[str]:
        """The document fields the encoder reads (title, text), in order."""
        raise NotImplementedError

    def sharded(self) -> bool:
        """Whether documents are encoded shard by shard, split over runtime.workers processes
        or torchrun's ranks; otherwise the encoder runs in one process (rank 0)."""
        return False

    def preflight(self) -> None:
        """Raise a SparseError, within seconds, if this encoder cannot run here (e.g. a model
        that is neither local nor reachable); called before any run directory is made."""

    def encode(
        self, docs: Iterable[tuple[str, str, str]], queries: list[tuple[str, str]], context: "EncodeContext"
    ) -> "Encoded":
        """(id, title, text) documents and (id, text) queries to sparse vectors."""
        raise NotImplementedError


@dataclass
class ExportConfig:
    jsonl: bool = False  # also write {"id", "vector": {token: weight}} JSONL (Seismic, Anserini impact)
    quantize: Optional[float] = None  # multiply weights by this and round to int in the export (e.g. 100)

    def __post_init__(self) -> None:
        check(
            self.quantize is None or self.quantize > 0, "export.quantize", "must be positive", "pass e.g. 100 or null"
        )
