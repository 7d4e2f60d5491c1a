"""An analyzer: tokenizer -> possessive filter -> lowercase -> stopwords -> stemmer.

With the defaults this is Anserini's DefaultEnglishAnalyzer (Lucene StandardTokenizer,
EnglishPossessiveFilter, LowerCaseFilter, English StopFilter, PorterStemFilter).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable

from sparsecli.text.config import AnalyzerConfig, StemmerName
from sparsecli.text.stopwords import load_stopwords
from sparsecli.text.tokenize import TOKENIZERS


# Where Porter's reference code and Snowball's "porter" can disagree: its -logi and -bli rules
# (after step 1 turns y into i), and step 1b's undoubling, which Snowball limits to bb dd ff gg
# mm nn pp rr tt while the reference undoubles any consonant (revving -> rev).
_REFERENCE_ONLY = re.compile(r"bl[iy]|log[iy]|([^bdfgmnprtaeiou])\1")


def lucene_porter() -> Callable[[str], str]:
    """Lucene's PorterStemmer: a port of Martin Porter's reference implementation, which
    departs from the 1980 paper (-logi -> -log, -bli -> -ble, any double consonant undoubled)
    and leaves words of one or two letters alone. NLTK implements that version
    (MARTIN_EXTENSIONS) in Python; Snowball's C "porter" gives the same stem wherever
    _REFERENCE_ONLY does not match a word without capitals, and is four times faster, so it
    stems those. Checked against NLTK on 838,801 words (a sample in tests/test_lucene_parity.py) and against
    Lucene's own output for SciFact (tests/test_lucene_parity.py)."""
    import Stemmer
    from nltk.stem.porter import PorterStemmer

    reference = PorterStemmer(PorterStemmer.MARTIN_EXTENSIONS)
    fast = Stemmer.Stemmer("porter").stemWord

    def stem(token: str) -> str:
        if len(token) <= 2:
            return token
        if token.lower() != token or _REFERENCE_ONLY.search(token):  # Snowball reads "Y" as a marker
            return reference.stem(token, to_lowercase=False)
        return fast(token)

    return stem


def snowball(algorithm: str) -> Callable[[], Callable[[str], str]]:
    """A PyStemmer (Snowball) stemmer by its algorithm name."""

    def make() -> Callable[[str], str]:
        import Stemmer

        return Stemmer.Stemmer(algorithm).stemWord

    return make


STEMMERS: dict[StemmerName, Callable[[], Callable[[str], str]]] = {
    StemmerName.porter: lucene_porter,
    StemmerName.snowball_porter: snowball("porter"),
    StemmerName.snowball_english: snowball("english"),
}

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
        make = STEMMERS.get(config.stemmer)
        self._stem = make() if make else None
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
            term = (self._stem(token) if self._stem else token) or None  # Snowball's porter stems "s" to ""
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
