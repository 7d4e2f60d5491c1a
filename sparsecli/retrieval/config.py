"""Base classes of the `index` and `search` groups; each algorithm subclasses them beside its code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Optional

from sparsecli.schema import MISSING, check, runtime_field

if TYPE_CHECKING:
    import numpy as np

    from sparsecli.io.vectors import SparseVectors
    from sparsecli.retrieval.ranking import Ranking


@dataclass
class IndexConfig:
    """Base of the `index` group: how document vectors become a searchable index."""

    name: str = MISSING

    def build(self, docs: "SparseVectors", folder: Path, seed: int) -> dict:
        """Build the index over `docs` and save it into `folder`; returns statistics to log."""
        raise NotImplementedError


@dataclass
class SearchConfig:
    """Base of the `search` group: top-k retrieval over one kind of index."""

    name: str = MISSING
    k: int = 1000  # BEIR and MS MARCO evaluate R@1000
    drop_self: Optional[bool] = None  # drop a query's own id from its results; null = the data config's drop_self
    gzip: bool = False  # write run.trec.gz instead of run.trec
    tag: str = "sparsecli"  # the TREC run tag (last column)
    verify_index: bool = runtime_field(False)  # check the index checksums before searching (reads every byte)
    batch_size: int = runtime_field(2048)  # queries per kernel call, and the progress step; results do not change
    index_kind: ClassVar[str] = ""  # the manifest kind of the index it searches
    index_option: ClassVar[str] = ""  # the `index=` option that builds that index

    def __post_init__(self) -> None:
        check(self.k > 0, "search.k", f"must be positive, got {self.k}", "pass e.g. search.k=1000")
        check(self.batch_size > 0, "search.batch_size", "must be positive", "pass e.g. 2048")
        check(
            bool(self.tag) and not any(c.isspace() for c in self.tag),
            "search.tag",
            "must be one word",
            "pass e.g. search.tag=bm25",
        )

    def check_index(self, manifest: dict) -> None:
        """Raise a ConfigError if these settings cannot search the index of `manifest`."""

    def search(self, folder: Path, queries: "SparseVectors", exclude: "np.ndarray") -> tuple["Ranking", dict]:
        """Top k of every query (exclude[q] >= 0: a document number to leave out of query q's
        results) over the index in `folder`, and statistics for stats.json."""
        raise NotImplementedError

    def measure(
        self, ranking: "Ranking", queries: "SparseVectors", exclude: "np.ndarray", docs: Callable[[], "SparseVectors"]
    ) -> dict:
        """Statistics on the ranking itself for stats.json, e.g. agreement with exact search;
        `docs` loads the document vectors."""
        return {}
