"""An analyzer: tokenizer -> possessive filter -> lowercase -> stopwords -> stemmer.

With the defaults this is Anserini's DefaultEnglishAnalyzer (Lucene StandardTokenizer,
EnglishPossessiveFilter, LowerCaseFilter, English StopFilter, PorterStemFilter).
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import Stemmer

from sparsecli.text.config import AnalyzerConfig, StemmerName
from sparsecli.text.stopwords import load_stopwords
from sparsecli.text.tokenize import TOKENIZERS

_SNOWBALL_NAMES = {StemmerName.porter: "porter", StemmerName.snowball: "english"}
_POSSESSIVE_QUOTES = ("'", "\u2019", "\uff07")
_UNSEEN = object()


def _strip_possessive(token: str) -> str:
    if len(token) >= 2 and token[-1] in "sS" and token[-2] in _POSSESSIVE_QUOTES:
        return token[:-2]
    return token


def _split_long(tokens: list[str], limit: int) -> list[str]:
    if all(len(t) <= limit for t in tokens):
        return tokens
    return [t[i : i + limit] for t in tokens for i in range(0, len(t), limit)]


class Analyzer:
    """Callable text -> list of terms; stems are memoised, since vocabularies are small."""

    def __init__(self, config: AnalyzerConfig):
        self.config = config
        self._tokenize: Callable[[str], list[str]] = TOKENIZERS[config.tokenizer.value]
        self._stopwords = load_stopwords(config.stopwords)
        algorithm = _SNOWBALL_NAMES.get(config.stemmer)
        self._stemmer = Stemmer.Stemmer(algorithm) if algorithm else None
        self._terms: dict[str, str | None] = {}  # token -> term (None: a stopword)

    def _term(self, token: str) -> str | None:
        original = token
        if self.config.possessive:
            token = _strip_possessive(token)
        if self.config.lowercase:
            token = token.lower()
        if not token or token in self._stopwords:
            term = None
        else:
            term = self._stemmer.stemWord(token) if self._stemmer else token
        self._terms[original] = term
        return term

    def __call__(self, text: str) -> list[str]:
        tokens = _split_long(self._tokenize(text), self.config.max_token_length)
        cache, out = self._terms, []
        for token in tokens:
            term = cache[token] if token in cache else self._term(token)
            if term is not None:
                out.append(term)
        return out

    def bag(self, text: str) -> tuple[dict[str, int], int]:
        """Term counts and the number of terms; analyzes each distinct token once."""
        cache, bag, limit = self._terms, {}, self.config.max_token_length
        for token, count in Counter(self._tokenize(text)).items():
            term = cache.get(token, _UNSEEN)
            if term is _UNSEEN:
                if len(token) > limit:  # rare: analyze the pieces, uncached
                    for piece in _split_long([token], limit):
                        piece_term = self._term(piece)
                        if piece_term is not None:
                            bag[piece_term] = bag.get(piece_term, 0) + count
                    continue
                term = self._term(token)
            if term is not None:
                bag[term] = bag.get(term, 0) + count
        return bag, sum(bag.values())
