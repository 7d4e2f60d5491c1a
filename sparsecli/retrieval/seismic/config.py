"""`index=seismic` and `search=approx`: the Seismic approximate index (Bruch, Nardini, Rulli,
Venturini, SIGIR 2024) and approximate top-k over it."""

from __future__ import annotations

from dataclasses import dataclass

from sparsecli.errors import ConfigError
from sparsecli.retrieval.config import IndexConfig, SearchConfig
from sparsecli.schema import check, option

SEISMIC_INDEX = "seismic-index"  # the manifest kind


@option("index", "seismic")
@dataclass
class SeismicIndexConfig(IndexConfig):
    """Build parameters; the defaults are pyseismic-lsr's. Random choices (the k-means
    centroids) are seeded by the command's `seed`."""

    name: str = "seismic"
    n_postings: int = 3500  # average postings kept per list (global pruning budget n_terms x this)
    max_fraction: float = 1.5  # no list keeps more than n_postings x max_fraction
    pruning: str = "global"  # global: largest weights collection-wide | fixed: n_postings per list
    centroid_fraction: float = 0.1  # blocks per list, as a fraction of its postings
    min_cluster_size: int = 2  # smaller clusters are dissolved into the others
    summary_energy: float = 0.4  # fraction of a block summary's L1 mass kept
    doc_cut: int = 15  # components of a document used to assign it to a cluster
    knn: int = 0  # graph neighbours per document, for search.n_knn; 0 = none (costs one search a document)
    knn_query_cut: int = 10  # the searches that find the neighbours, each document as a query
    knn_heap_factor: float = 0.9  # as search.heap_factor's default

    def __post_init__(self) -> None:
        check(self.n_postings > 0, "index.n_postings", "must be positive", "pass e.g. 3500")
        check(self.max_fraction >= 1, "index.max_fraction", "must be >= 1", "pass e.g. 1.5")
        check(
            self.pruning in ("global", "fixed"),
            "index.pruning",
            f"unknown strategy {self.pruning!r}",
            "use global or fixed",
        )
        check(0 < self.centroid_fraction <= 1, "index.centroid_fraction", "must be in (0, 1]", "pass e.g. 0.1")
        check(self.min_cluster_size >= 1, "index.min_cluster_size", "must be >= 1", "pass e.g. 2")
        check(0 < self.summary_energy <= 1, "index.summary_energy", "must be in (0, 1]", "pass e.g. 0.4")
        check(self.doc_cut > 0, "index.doc_cut", "must be positive", "pass e.g. 15")
        check(self.knn >= 0, "index.knn", "must be >= 0", "pass 0 for no graph, or e.g. 10")
        check(self.knn_query_cut > 0, "index.knn_query_cut", "must be positive", "pass e.g. 10")
        check(self.knn_heap_factor > 0, "index.knn_heap_factor", "must be positive", "pass e.g. 0.9")

    def build(self, docs, folder, seed):
        from sparsecli.retrieval.seismic import build, index

        built = build.build(docs, self, seed)
        index.save(built, folder)
        return {"docs": built.n_docs, "terms": built.n_terms}


@option("search", "approx")
@dataclass
class ApproxSearchConfig(SearchConfig):
    name: str = "approx"
    # Defaults: pyseismic-lsr's; search=approx_r90/r95/r99 are tuned presets.
    query_cut: int = 10  # only the query's largest terms open their posting lists
    heap_factor: float = 0.9  # stop at the first block whose summary score < heap_factor x the k-th score
    n_knn: int = 0  # also score this many kNN-graph neighbours of each result (needs index.knn >= n_knn)
    accuracy: bool = True  # also run exact search on the same vectors and report accuracy@10 and @k

    index_kind = SEISMIC_INDEX
    index_option = "seismic"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.query_cut > 0, "search.query_cut", "must be positive", "pass e.g. 10")
        check(self.heap_factor > 0, "search.heap_factor", "must be positive", "pass e.g. 0.9")
        check(self.n_knn >= 0, "search.n_knn", "must be >= 0", "pass 0 for no refinement")

    def check_index(self, manifest: dict) -> None:
        self.check_knn(int(manifest.get("params", {}).get("knn", 0)))

    def check_knn(self, held: int) -> None:
        """Raise a ConfigError if the index holds fewer than n_knn neighbours a document."""
        if self.n_knn > held:
            raise ConfigError(
                f"search.n_knn={self.n_knn} but the index holds {held} neighbours a document",
                where="search.n_knn",
                fix=f"lower search.n_knn to <= {held}, or rebuild with index.knn={self.n_knn}",
            )

    def search(self, folder, queries, exclude):
        from sparsecli.retrieval.seismic import index, search

        loaded = index.load(folder, verify=self.verify_index)
        ranking, scored = search.search(loaded, queries, self.k, self, exclude, self.batch_size)
        return ranking, {
            "query_cut": self.query_cut,
            "heap_factor": self.heap_factor,
            "n_knn": self.n_knn,
            "docs_scored_mean": round(float(scored.mean()), 3) if len(scored) else 0.0,
        }

    def measure(self, ranking, queries, exclude, docs):
        """accuracy@10 and accuracy@k against exact top-k over the same float vectors."""
        if not self.accuracy:
            return {}
        from sparsecli.retrieval.exact import index as exact_index
        from sparsecli.retrieval.exact.search import search as exact_search
        from sparsecli.retrieval.seismic.search import accuracy

        truth = exact_search(exact_index.build(docs()), queries, self.k, exclude, self.batch_size)
        return {
            f"accuracy@{cutoff}": round(accuracy(ranking, truth, cutoff), 6)
            for cutoff in sorted({min(10, self.k), self.k})
        }
