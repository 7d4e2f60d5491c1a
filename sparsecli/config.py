"""Structured configs: the typed schema behind every YAML file in `sparsecli/conf`.

OmegaConf checks types and enum values while Hydra composes (`encoder.k1=abc` fails there,
naming the field); range and consistency checks live in `__post_init__`, which runs when a
task turns its config into these objects with `OmegaConf.to_object`.

Group schemas are registered in Hydra's ConfigStore under `schema/...`, so they do not show
up as choices of the user-facing groups (`data=`, `encoder=`, ...); each command's primary
schema is `<command>_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, List, Optional

from omegaconf import MISSING

from sparsecli.errors import ConfigError
from sparsecli.search import EXACT_ALGORITHMS


def _check(ok: bool, field_name: str, message: str, fix: str) -> None:
    if not ok:
        raise ConfigError(message, where=field_name, fix=fix)


# --------------------------------------------------------------------------- shared


class ProgressMode(Enum):
    auto = "auto"  # a bar on a terminal, log lines otherwise
    bar = "bar"
    log = "log"
    none = "none"


@dataclass
class RuntimeConfig:
    """How a run executes; never part of the run key, since it does not change results."""

    force: bool = False  # recompute even when the run directory is complete
    threads: int = 0  # 0 = all cores
    progress: ProgressMode = ProgressMode.auto
    progress_interval: float = 10.0  # seconds between progress log lines without a terminal

    def __post_init__(self) -> None:
        _check(self.threads >= 0, "runtime.threads", f"must be >= 0, got {self.threads}", "use 0 for all cores")
        _check(self.progress_interval > 0, "runtime.progress_interval", "must be > 0", "pass a number of seconds")


@dataclass
class CommonConfig:
    runs_root: str = "runs"  # run directories go to <runs_root>/<command>/<key>/
    data_root: Optional[str] = None  # when set, named datasets read local copies under it
    seed: int = 0
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


# --------------------------------------------------------------------------- data


class DataFormat(Enum):
    beir = "beir"  # corpus.jsonl, queries.jsonl, qrels/<split>.tsv
    msmarco = "msmarco"  # collection.tsv, queries TSV, TREC qrels
    irds = "irds"  # an ir_datasets id
    hf = "hf"  # Hugging Face datasets (hub name or a save_to_disk folder)


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
    path: Optional[str] = None  # hub name or a local save_to_disk folder
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


@dataclass
class DataConfig:
    name: str = MISSING
    format: DataFormat = DataFormat.beir
    path: Optional[str] = None  # local folder for beir/msmarco, or an HF save_to_disk folder
    split: Optional[str] = "test"  # qrels split; queries are restricted to it; null = all queries, no qrels
    files: FilesConfig = field(default_factory=FilesConfig)
    irds_id: Optional[str] = None
    hf: HFConfig = field(default_factory=HFConfig)
    local: LocalCopyConfig = field(default_factory=LocalCopyConfig)
    on_empty: OnEmpty = OnEmpty.error
    # Drop a result whose doc id equals the query id: BEIR's ignore_identical_ids and Anserini's
    # -removeQuery (ArguAna and Quora queries are documents too). BEIR-format configs set it;
    # MS MARCO must not, since its query and passage ids overlap by accident.
    drop_self: bool = False
    max_queries: Optional[int] = None  # keep the first N queries, for quick slices

    def __post_init__(self) -> None:
        needs_path = self.format in (DataFormat.beir, DataFormat.msmarco)
        _check(
            not needs_path or bool(self.path) or bool(self.local.path),
            "data.path",
            f"data={self.name} (format {self.format.value}) needs a folder",
            "pass data.path=<dir>",
        )
        _check(
            self.format != DataFormat.irds or bool(self.irds_id) or bool(self.local.path),
            "data.irds_id",
            "format irds needs an ir_datasets id",
            "pass data.irds_id=<id>, e.g. beir/scifact/test",
        )
        _check(
            self.max_queries is None or self.max_queries > 0,
            "data.max_queries",
            "must be positive",
            "pass a positive number or null",
        )


# --------------------------------------------------------------------------- encode


class Tokenizer(Enum):
    standard = "standard"  # Lucene's StandardTokenizer (Unicode UAX#29 word boundaries)
    whitespace = "whitespace"


class StemmerName(Enum):
    porter = "porter"  # Lucene PorterStemFilter, as in Anserini
    snowball = "snowball"  # Snowball English (Porter2)
    none = "none"


@dataclass
class AnalyzerConfig:
    # Defaults reproduce Anserini's DefaultEnglishAnalyzer, behind its published BEIR numbers.
    tokenizer: Tokenizer = Tokenizer.standard
    possessive: bool = True  # strip English possessive 's before lowercasing (EnglishPossessiveFilter)
    lowercase: bool = True
    stopwords: str = "lucene"  # lucene (Lucene's 33 English words) | none | path to a file, one word per line
    stemmer: StemmerName = StemmerName.porter
    max_token_length: int = 255  # longer tokens are split, as Lucene does
    fields: List[str] = field(default_factory=lambda: ["title", "text"])  # concatenated: Anserini's "flat"

    def __post_init__(self) -> None:
        _check(self.max_token_length > 0, "encoder.analyzer.max_token_length", "must be positive", "pass e.g. 255")
        _check(
            bool(self.fields) and all(f in ("title", "text") for f in self.fields),
            "encoder.analyzer.fields",
            f"must be a non-empty subset of [title, text], got {list(self.fields)}",
            "pass e.g. encoder.analyzer.fields=[title,text]",
        )


class BM25Variant(Enum):
    lucene = "lucene"  # idf = ln(1 + (N - df + .5)/(df + .5)); Lucene/Anserini
    robertson = "robertson"  # idf = ln((N - df + .5)/(df + .5)), clipped at 0
    atire = "atire"  # idf = ln(N/df)
    bm25l = "bm25l"
    bm25plus = "bm25plus"


@dataclass
class BM25Config:
    name: str = "bm25"
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    variant: BM25Variant = BM25Variant.lucene
    k1: float = 0.9  # Anserini's BEIR/MS MARCO default
    b: float = 0.4  # Anserini's BEIR/MS MARCO default
    delta: float = 0.5  # only for bm25l / bm25plus
    lucene_norms: bool = True  # doc lengths through Lucene's lossy 1-byte norm, as Anserini scores them

    def __post_init__(self) -> None:
        _check(self.k1 >= 0, "encoder.k1", f"must be >= 0, got {self.k1}", "Anserini uses 0.9")
        _check(0 <= self.b <= 1, "encoder.b", f"must be in [0, 1], got {self.b}", "Anserini uses 0.4")
        _check(self.delta >= 0, "encoder.delta", f"must be >= 0, got {self.delta}", "the usual value is 0.5")


class SideType(Enum):
    """How one side (documents or queries) of a learned sparse encoder weighs vocabulary terms.

    The components of the unified LSR framework (Nguyen et al., 2023): any doc type can be
    combined with any query type.
    """

    mlm = "mlm"  # SPLADE: log(1 + relu(LM logits)) pooled over tokens; expands to the whole vocabulary
    mlp = "mlp"  # uniCOIL: relu(linear(hidden state)) per input token; no expansion
    binary = "binary"  # 1 for every input token; no model
    idf = "idf"  # the token's IDF over the corpus (or from a file); no model: inference-free queries


class Pooling(Enum):
    max = "max"
    sum = "sum"


class Backbone(Enum):
    auto = "auto"  # from the checkpoint's architecture
    encoder = "encoder"  # a masked LM (BERT, DistilBERT, RoBERTa, ...)
    decoder = "decoder"  # a causal LM (Llama, Mistral, Qwen, ...): the LM head over the vocabulary


class DType(Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Device(Enum):
    auto = "auto"  # cuda when available
    cpu = "cpu"
    cuda = "cuda"


@dataclass
class SideConfig:
    type: SideType = SideType.mlm
    model: Optional[str] = None  # hub id or local folder; tokenizer only for binary/idf
    revision: Optional[str] = None  # a hub branch, tag or commit to pin
    max_length: int = 256
    pooling: Pooling = Pooling.max
    backbone: Backbone = Backbone.auto
    echo: bool = False  # decoders: feed the text twice, pool over the second copy (every token sees all)
    pool_special_positions: bool = True  # pool over [CLS]/[SEP] positions too, as naver/splade does
    top_k: Optional[int] = None  # keep the k largest weights per vector, on the device
    threshold: float = 0.0  # keep weights above this, on the device
    head: str = "tok_proj"  # mlp: the checkpoint key prefix of the Linear(hidden, 1) term-weight head
    idf_file: Optional[str] = None  # idf: JSON {token: weight}; default: IDF over the corpus

    def __post_init__(self) -> None:
        _check(self.max_length > 1, "encoder.*.max_length", "must be > 1", "pass e.g. 256")
        _check(self.top_k is None or self.top_k > 0, "encoder.*.top_k", "must be positive or null", "pass e.g. 256")
        _check(self.threshold >= 0, "encoder.*.threshold", "must be >= 0", "pass 0 to keep all positive weights")


@dataclass
class LSRConfig:
    """A learned sparse encoder: one SideConfig for documents, one for queries."""

    name: str = "lsr"
    model: Optional[str] = None  # default for both sides
    revision: Optional[str] = None
    doc: SideConfig = field(default_factory=SideConfig)
    query: SideConfig = field(default_factory=lambda: SideConfig(max_length=64))
    fields: List[str] = field(default_factory=lambda: ["title", "text"])  # joined with a space
    dtype: DType = DType.fp32
    device: Device = Device.auto
    local_files_only: bool = False
    trust_remote_code: bool = False  # never on unless asked: it runs code from the checkpoint
    batch_size: int = 32
    shard_size: int = 100_000  # documents per resumable shard
    compile: bool = False  # torch.compile the model

    def __post_init__(self) -> None:
        _check(self.batch_size > 0, "encoder.batch_size", "must be positive", "pass e.g. 32")
        _check(self.shard_size > 0, "encoder.shard_size", "must be positive", "pass e.g. 100000")
        for side, config in (("doc", self.doc), ("query", self.query)):
            _check(
                bool(config.model),
                f"encoder.{side}.model",
                "no model or tokenizer given",
                "pass encoder.model=<hub id or folder>",
            )
        _check(
            bool(self.fields) and all(f in ("title", "text") for f in self.fields),
            "encoder.fields",
            f"must be a non-empty subset of [title, text], got {list(self.fields)}",
            "pass e.g. encoder.fields=[title,text]",
        )


@dataclass
class ExportConfig:
    jsonl: bool = False  # also write {"id", "vector": {token: weight}} JSONL (Seismic, Anserini impact)
    quantize: Optional[float] = None  # multiply weights by this and round to int in the export (e.g. 100)

    def __post_init__(self) -> None:
        _check(
            self.quantize is None or self.quantize > 0, "export.quantize", "must be positive", "pass e.g. 100 or null"
        )


@dataclass
class EncodeConfig(CommonConfig):
    data: DataConfig = MISSING
    encoder: Any = MISSING  # one of the encoder schemas, chosen by encoder=<name>
    export: ExportConfig = field(default_factory=ExportConfig)


# --------------------------------------------------------------------------- index


@dataclass
class ExactIndexConfig:
    name: str = "exact"
    # Round document and query weights to integers after multiplying by this (Anserini's impact
    # indexes use 100 for SPLADE); null keeps the encoder's float weights.
    quantize: Optional[float] = None

    def __post_init__(self) -> None:
        _check(
            self.quantize is None or self.quantize > 0, "index.quantize", "must be positive", "pass e.g. 100 or null"
        )


@dataclass
class SeismicIndexConfig:
    """Seismic (SIGIR 2024) parameters; the defaults are pyseismic-lsr's."""

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
    knn_heap_factor: float = 0.9

    def __post_init__(self) -> None:
        _check(self.n_postings > 0, "index.n_postings", "must be positive", "pass e.g. 3500")
        _check(self.max_fraction >= 1, "index.max_fraction", "must be >= 1", "pass e.g. 1.5")
        _check(
            self.pruning in ("global", "fixed"),
            "index.pruning",
            f"unknown strategy {self.pruning!r}",
            "use global or fixed",
        )
        _check(0 < self.centroid_fraction <= 1, "index.centroid_fraction", "must be in (0, 1]", "pass e.g. 0.1")
        _check(self.min_cluster_size >= 1, "index.min_cluster_size", "must be >= 1", "pass e.g. 2")
        _check(0 < self.summary_energy <= 1, "index.summary_energy", "must be in (0, 1]", "pass e.g. 0.4")
        _check(self.doc_cut > 0, "index.doc_cut", "must be positive", "pass e.g. 15")
        _check(self.knn >= 0, "index.knn", "must be >= 0", "pass 0 for no graph, or e.g. 10")
        _check(self.knn_query_cut > 0, "index.knn_query_cut", "must be positive", "pass e.g. 10")
        _check(self.knn_heap_factor > 0, "index.knn_heap_factor", "must be positive", "pass e.g. 0.9")


@dataclass
class IndexConfig(CommonConfig):
    encode_run: str = MISSING
    index: Any = MISSING


# --------------------------------------------------------------------------- search


@dataclass
class SearchParams:
    name: str = "exact"
    k: int = 1000  # BEIR and MS MARCO evaluate R@1000
    drop_self: Optional[bool] = None  # drop a query's own id from its results; null = the data config's drop_self
    gzip: bool = False  # write run.trec.gz instead of run.trec
    tag: str = "sparsecli"  # the TREC run tag (last column)
    verify_index: bool = False  # check the index checksums before searching (reads every byte)
    batch_size: int = 2048  # queries per kernel call; progress granularity

    # Exact search (index=exact) only: both give identical results; taat measured faster
    # everywhere so far (sparsecli/search/exact.py has the figures).
    algorithm: str = "taat"  # taat | maxscore

    # Approximate search (index=seismic) only:
    query_cut: int = 10  # only the query's largest terms open their posting lists
    heap_factor: float = 0.9  # stop at the first block whose summary score < heap_factor x the k-th score
    n_knn: int = 0  # also score this many kNN-graph neighbours of each result (needs index.knn >= n_knn)
    accuracy: bool = True  # also run exact search on the same vectors and report accuracy@10 and @k

    def __post_init__(self) -> None:
        _check(self.k > 0, "search.k", f"must be positive, got {self.k}", "pass e.g. search.k=1000")
        _check(self.name in ("exact", "approx"), "search.name", f"unknown search {self.name!r}", "use exact or approx")
        _check(
            self.algorithm in EXACT_ALGORITHMS,
            "search.algorithm",
            f"unknown exact search algorithm {self.algorithm!r}",
            "use " + " or ".join(EXACT_ALGORITHMS),
        )
        _check(self.query_cut > 0, "search.query_cut", "must be positive", "pass e.g. 10")
        _check(self.heap_factor > 0, "search.heap_factor", "must be positive", "pass e.g. 0.9")
        _check(self.n_knn >= 0, "search.n_knn", "must be >= 0", "pass 0 for no refinement")
        _check(self.batch_size > 0, "search.batch_size", "must be positive", "pass e.g. 2048")
        _check(
            bool(self.tag) and not any(c.isspace() for c in self.tag),
            "search.tag",
            "must be one word",
            "pass e.g. search.tag=bm25",
        )


@dataclass
class SearchConfig(CommonConfig):
    index_run: str = MISSING
    search: SearchParams = field(default_factory=SearchParams)


# --------------------------------------------------------------------------- eval


class SignificanceTest(Enum):
    ttest = "ttest"  # paired Student t-test over per-query values
    randomization = "randomization"  # paired randomization (permutation) test, seeded
    none = "none"


class MissingQueries(Enum):
    zero = "zero"  # a judged query with no results scores 0 (trec_eval -c, as Anserini reports)
    skip = "skip"  # average only over queries present in the run


@dataclass
class EvalParams:
    name: str = "default"
    measures: List[str] = field(default_factory=lambda: ["nDCG@10", "RR@10", "R@100", "R@1000"])
    qrels: Optional[str] = None  # a TREC qrels file; default: the qrels of the upstream encode run
    missing_queries: MissingQueries = MissingQueries.zero
    significance: SignificanceTest = SignificanceTest.ttest
    permutations: int = 10000  # for the randomization test
    alpha: float = 0.05

    def __post_init__(self) -> None:
        _check(bool(self.measures), "eval.measures", "is empty", "pass e.g. eval.measures=[nDCG@10]")
        _check(0 < self.alpha < 1, "eval.alpha", "must be in (0, 1)", "pass e.g. 0.05")
        _check(self.permutations > 0, "eval.permutations", "must be positive", "pass e.g. 10000")


@dataclass
class EvalConfig(CommonConfig):
    search_run: Any = MISSING  # a search run dir, a TREC run file, or a list of them to compare
    eval: EvalParams = field(default_factory=EvalParams)


# --------------------------------------------------------------------------- registry

SCHEMAS = {
    "encode_schema": EncodeConfig,
    "index_schema": IndexConfig,
    "search_schema": SearchConfig,
    "eval_schema": EvalConfig,
    "schema/data/data": DataConfig,
    "schema/encoder/bm25": BM25Config,
    "schema/encoder/lsr": LSRConfig,
    "schema/index/exact": ExactIndexConfig,
    "schema/index/seismic": SeismicIndexConfig,
    "schema/search/params": SearchParams,
    "schema/eval/params": EvalParams,
}


def register() -> None:
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for path, node in SCHEMAS.items():
        group, _, name = path.rpartition("/")
        store.store(group=group or None, name=name, node=node)
