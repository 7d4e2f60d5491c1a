"""`encoder=bm25`: Lucene-style BM25 document weights and term-count query vectors."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from sparsecli.encode.config import EncoderConfig
from sparsecli.schema import check, option
from sparsecli.text.config import AnalyzerConfig


class BM25Variant(Enum):
    lucene = "lucene"  # idf = ln(1 + (N - df + .5)/(df + .5)); Lucene/Anserini
    robertson = "robertson"  # idf = ln((N - df + .5)/(df + .5)), clipped at 0
    atire = "atire"  # idf = ln(N/df)
    bm25l = "bm25l"
    bm25plus = "bm25plus"


@option("encoder", "bm25")
@dataclass
class BM25Config(EncoderConfig):
    name: str = "bm25"
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    variant: BM25Variant = BM25Variant.lucene
    k1: float = 0.9  # Anserini's BEIR/MS MARCO default
    b: float = 0.4  # Anserini's BEIR/MS MARCO default
    delta: float = 0.5  # only for bm25l / bm25plus
    lucene_norms: bool = True  # doc lengths through Lucene's lossy 1-byte norm, as Anserini scores them

    def __post_init__(self) -> None:
        check(self.k1 >= 0, "encoder.k1", f"must be >= 0, got {self.k1}", "Anserini uses 0.9")
        check(0 <= self.b <= 1, "encoder.b", f"must be in [0, 1], got {self.b}", "Anserini uses 0.4")
        check(self.delta >= 0, "encoder.delta", f"must be >= 0, got {self.delta}", "the usual value is 0.5")

    def preflight(self) -> None:
        from sparsecli.text.stopwords import load_stopwords

        load_stopwords(self.analyzer.stopwords)  # a list that does not exist fails before the run

    def text_fields(self) -> list[str]:
        return list(self.analyzer.fields)

    def encode(self, docs, queries, context):
        from sparsecli.encode.bm25.encoder import encode

        return encode(docs, queries, self, context)
