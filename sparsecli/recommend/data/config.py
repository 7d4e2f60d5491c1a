"""The `data` config group of `sparse train-rec`: which interactions, how they are filtered
and how they are split. Its options are conf/data/<name>.yaml files whose schema is
`rec` (this class); the IR collections of the same group use sparsecli.data.config."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional

from sparsecli.schema import MISSING, check, check_distinct, late_field, location_field, option


class RecFormat(Enum):
    atomic = "atomic"  # RecBole atomic files: <name>.inter (+ .item)
    p5 = "p5"  # P5's sequential_data.txt: `user item item ...` per line, in time order
    table = "table"  # a CSV/TSV/Parquet file with named columns (sessions too)
    hf = "hf"  # a Hugging Face dataset (hub name or save_to_disk folder) with named columns


class Dedup(Enum):
    none = "none"  # keep every interaction: users re-consume (the sequential default)
    consecutive = "consecutive"  # drop an item repeated right after itself (a refresh, a double click)
    first = "first"  # keep each (user, item) pair's earliest interaction (RecBole's rm_dup_inter: first)
    last = "last"  # keep its latest


class SplitPolicy(Enum):
    loo = "loo"  # temporal leave-one-out: valid = second-to-last, test = last (SASRec, BERT4Rec, P5)
    temporal = "temporal"  # one global time cut for valid and one for test
    session = "session"  # sessions are the sequences; the latest sessions are valid and test


class UnknownMeta(Enum):
    error = "error"  # a metadata row for an item no interaction has: usually a wrong file or id column
    drop = "drop"  # ignore such rows (a catalog larger than the interactions), with a count in the log


@dataclass
class ColumnsConfig:
    """Column names (the `name` part of an atomic header; CSV/Parquet/HF column names)."""

    user: str = "user_id"
    item: str = "item_id"
    # "auto": `timestamp` when the file has one, else the file order (logged). A name, or a
    # list of names sorted lexicographically (e.g. [eventdate, timeframe]), must exist.
    time: List[str] = field(default_factory=lambda: ["auto"])
    session: Optional[str] = None  # split=session: the column naming sessions (they become the sequences)
    rating: Optional[str] = None  # kept for reference; no model here reads it


@dataclass
class ItemMetaConfig:
    """Item metadata beyond an atomic `.item` file: a CSV/TSV mapping items to fields."""

    file: Optional[str] = location_field()  # relative to the data folder
    item: str = "item_id"
    fields: List[str] = field(default_factory=list)  # columns to keep; [] = all
    sep: str = ","
    # Category paths ("Beauty > Skin Care > Face"): each named field becomes one field per
    # level, <field>@1, <field>@2, ..., whose value is the path down to that level (a name
    # under two parents stays two values), for M2TRec's per-level heads. The field itself is kept.
    paths: List[str] = late_field(factory=list)
    path_sep: str = late_field(">")

    def __post_init__(self) -> None:
        check(self.path_sep != "", "data.item_meta.path_sep", "is empty", "pass the separator of the paths, e.g. '>'")
        check_distinct(self.fields, "data.item_meta.fields", "name each column once")


@dataclass
class FilterConfig:
    k_core: int = 0  # iteratively keep users and items with >= k interactions (0: off; 5 is the usual)
    min_user: int = 0  # users with fewer interactions are dropped before the split (0: off)
    dedup: Dedup = Dedup.none

    def __post_init__(self) -> None:
        check(self.k_core >= 0, "data.filter.k_core", "must be >= 0", "pass 0 (off) or e.g. 5")
        check(self.min_user >= 0, "data.filter.min_user", "must be >= 0", "pass 0 (off) or e.g. 3")


@dataclass
class SplitConfig:
    policy: SplitPolicy = SplitPolicy.loo
    valid_fraction: float = 0.1  # temporal / session: the share of time (interactions) or sessions
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("valid_fraction", "test_fraction"):
            value = getattr(self, name)
            check(0 < value < 1, f"data.split.{name}", f"must be in (0, 1), got {value}", "pass e.g. 0.1")
        check(
            self.valid_fraction + self.test_fraction < 1,
            "data.split",
            "valid_fraction + test_fraction must be < 1",
            "leave some data for training",
        )


@option("data", "rec")
@dataclass
class RecDataConfig:
    """Interactions for `sparse train-rec`. The run key holds the content of the files read,
    not their location (`path`, `local_path`, `data_root`)."""

    name: str = MISSING
    format: RecFormat = RecFormat.atomic
    path: Optional[str] = location_field()  # a folder (atomic, p5), a file (table), a hub id or folder (hf)
    local_path: Optional[str] = location_field()  # below data_root, used when path is not given
    file: Optional[str] = None  # the file inside the folder: <name>.inter, sequential_data.txt, ...
    sep: Optional[str] = None  # table: the field separator; null = a tab for .tsv files, a comma otherwise
    hf_split: str = "train"
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    item_meta: ItemMetaConfig = field(default_factory=ItemMetaConfig)
    unknown_meta_items: UnknownMeta = UnknownMeta.error
    filter: FilterConfig = field(default_factory=FilterConfig)
    split: SplitConfig = field(default_factory=SplitConfig)

    def __post_init__(self) -> None:
        check(
            bool(self.path) or bool(self.local_path),
            "data.path",
            f"data={self.name} names no files",
            "pass data.path=<folder or file>",
        )
        check(
            self.split.policy != SplitPolicy.session or bool(self.columns.session),
            "data.columns.session",
            "split.policy=session needs a session column",
            "pass data.columns.session=<column>",
        )
        check(
            not self.columns.session or self.format in (RecFormat.table, RecFormat.hf),
            "data.columns.session",
            f"sessions are read from tables (data.format=table or hf), not format {self.format.value}",
            "convert the sessions to a CSV with a session column, or drop data.columns.session",
        )
        check(bool(self.columns.time), "data.columns.time", "is empty", "pass [auto], a column or a list of columns")
