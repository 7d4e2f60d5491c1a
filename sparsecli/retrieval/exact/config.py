"""`index=exact` and `search=exact`: a term-major inverted index and exact top-k over it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional

from sparsecli.retrieval.config import IndexConfig, SearchConfig
from sparsecli.schema import check, option

INVERTED_INDEX = "inverted-index"  # the manifest kind


class ExactAlgorithm(Enum):
    """Identical rankings and score bits; they differ only in speed (`make bench-exact`)."""

    taat = "taat"  # term-at-a-time accumulation: the default, fastest in every measurement so far
    maxscore = "maxscore"  # document-at-a-time MaxScore (Turtle and Flood, 1995)


@option("index", "exact")
@dataclass
class ExactIndexConfig(IndexConfig):
    name: str = "exact"
    # Round document and query weights to integers after multiplying by this (Anserini's impact
    # indexes use 100 for SPLADE); null keeps the encoder's float weights.
    quantize: Optional[float] = None

    def __post_init__(self) -> None:
        check(self.quantize is None or self.quantize > 0, "index.quantize", "must be positive", "pass e.g. 100 or null")

    def build(self, docs, folder, seed):
        from sparsecli.retrieval.exact import index

        built = index.build(docs, self.quantize)
        index.save(built, folder, {"index": self.name})
        return {"docs": built.n_docs, "terms": built.n_terms}


@option("search", "exact")
@dataclass
class ExactSearchConfig(SearchConfig):
    name: str = "exact"
    algorithm: ExactAlgorithm = ExactAlgorithm.taat

    index_kind = INVERTED_INDEX
    index_option = "exact"

    def search(self, folder, queries, exclude):
        from sparsecli.retrieval.exact import index, search

        loaded = index.load(folder, verify=self.verify_index)
        ranking = search.search(loaded, queries, self.k, exclude, self.batch_size, self.algorithm)
        return ranking, {"algorithm": self.algorithm.value}
