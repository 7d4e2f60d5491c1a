"""The `data` config group: which collection, split and source a command reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional

from sparsecli.data.qrels import Duplicates
from sparsecli.schema import MISSING, check, location_field, option


class DataFormat(Enum):
    beir = "beir"  # corpus.jsonl, queries.jsonl, qrels/<split>.tsv
    msmarco = "msmarco"  # collection.tsv, queries TSV, TREC qrels
    irds = "irds"  # an ir_datasets id
    hf = "hf"  # Hugging Face datasets (hub name or a save_to_disk folder)


DOC_FIELDS = ("title", "text")  # the text fields every reader gives a document


def check_fields(fields: list[str], key: str) -> None:
    """`fields` (which document fields an encoder reads) is a non-empty subset of DOC_FIELDS;
    a ConfigError naming `key` otherwise."""
    check(
        bool(fields) and all(f in DOC_FIELDS for f in fields),
        key,
        f"must be a non-empty subset of [{', '.join(DOC_FIELDS)}], got {list(fields)}",
        f"pass e.g. {key}=[{','.join(DOC_FIELDS)}]",
    )


class OnEmpty(Enum):
    error = "error"  # stop: an empty document usually means a broken conversion
    skip = "skip"  # drop it, as Anserini does (it could never be retrieved anyway)
    keep = "keep"  # keep it with an empty vector


@dataclass
class FilesConfig:
    """File names inside `data.path`; null means the format's default."""

    corpus: Optional[str] = None
    queries: Optional[str] = None
    qrels: Optional[str] = None


@dataclass
class HFTableConfig:
    # hub name or a local save_to_disk folder; the key holds the source's fingerprint instead
    path: Optional[str] = location_field()
    name: Optional[str] = None  # dataset config name
    split: Optional[str] = None


@dataclass
class HFConfig:
    corpus: HFTableConfig = field(default_factory=HFTableConfig)
    queries: HFTableConfig = field(default_factory=HFTableConfig)
    qrels: HFTableConfig = field(default_factory=HFTableConfig)
    revision: Optional[str] = None


@dataclass
class LocalCopyConfig:
    """Where a named dataset lives below `data_root`, used instead of its public source."""

    path: Optional[str] = None
    format: DataFormat = DataFormat.beir
    files: FilesConfig = field(default_factory=FilesConfig)


@option("data", "data")
@dataclass
class DataConfig:
    """An IR collection. The run key holds the content of the files read, not their location
    (`path`, `files`, `local` and `data_root`), so a copied collection keeps its key."""

    name: str = MISSING
    format: DataFormat = DataFormat.beir
    path: Optional[str] = location_field()  # the folder of a beir or msmarco collection
    split: Optional[str] = "test"  # qrels split; queries are restricted to it; null = all queries, no qrels
    files: FilesConfig = location_field(factory=FilesConfig)
    irds_id: Optional[str] = None
    hf: HFConfig = field(default_factory=HFConfig)
    local: LocalCopyConfig = location_field(factory=LocalCopyConfig)
    on_empty: OnEmpty = OnEmpty.error
    # A (query, document) pair judged twice: error (as trec_eval), or keep the first, the last
    # or the highest grade.
    qrels_duplicates: Duplicates = Duplicates.error
    # Drop a result whose doc id equals the query id: BEIR's ignore_identical_ids and Anserini's
    # -removeQuery (ArguAna and Quora queries are documents too). BEIR-format configs set it;
    # MS MARCO must not, since its query and passage ids overlap by accident.
    drop_self: bool = False
    max_queries: Optional[int] = None  # keep the first N queries, for quick slices

    def __post_init__(self) -> None:
        needs_path = self.format in (DataFormat.beir, DataFormat.msmarco)
        check(
            not needs_path or bool(self.path) or bool(self.local.path),
            "data.path",
            f"data={self.name} (format {self.format.value}) needs a folder",
            "pass data.path=<dir>",
        )
        check(
            self.format != DataFormat.irds or bool(self.irds_id) or bool(self.local.path),
            "data.irds_id",
            "format irds needs an ir_datasets id",
            "pass data.irds_id=<id>, e.g. beir/scifact/test",
        )
        check(
            self.max_queries is None or self.max_queries > 0,
            "data.max_queries",
            "must be positive",
            "pass a positive number or null",
        )
