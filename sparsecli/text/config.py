"""How text becomes terms for lexical models (BM25): tokenizer, stopwords, stemmer, fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import List

from sparsecli.data.config import check_fields
from sparsecli.schema import check, path_field


class Tokenizer(Enum):
    standard = "standard"  # Lucene's StandardTokenizer (Unicode UAX#29 word boundaries)
    whitespace = "whitespace"


class StemmerName(Enum):
    porter = "porter"  # Lucene's PorterStemmer (Porter's own reference code), as Anserini uses
    snowball_porter = "snowball_porter"  # Snowball's "porter": ends -logi, -bli and short words differ
    snowball_english = "snowball_english"  # Snowball's "english" (Porter2)
    none = "none"


@dataclass
class AnalyzerConfig:
    # Defaults reproduce Anserini's DefaultEnglishAnalyzer, behind its published BEIR numbers.
    tokenizer: Tokenizer = Tokenizer.standard
    possessive: bool = True  # strip English possessive 's before lowercasing (EnglishPossessiveFilter)
    lowercase: bool = True
    # lucene (Lucene's 33 English words) | none | a file, one word per line (the key holds its content)
    stopwords: str = path_field("lucene")
    stemmer: StemmerName = StemmerName.porter
    max_token_length: int = 255  # longer tokens are split, as Lucene does
    fields: List[str] = field(default_factory=lambda: ["title", "text"])  # concatenated: Anserini's "flat"

    def __post_init__(self) -> None:
        check(self.max_token_length > 0, "encoder.analyzer.max_token_length", "must be positive", "pass e.g. 255")
        check_fields(self.fields, "encoder.analyzer.fields")
