"""Stopword lists, chosen by name or read from a file."""

from __future__ import annotations

from pathlib import Path

from sparsecli.errors import ConfigError, InputError

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET, used by Anserini's default analyzer.
LUCENE_ENGLISH = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such "
    "that the their then there these they this to was will with".split()
)

NAMED = {"lucene": LUCENE_ENGLISH, "none": frozenset()}


def load_stopwords(spec: str) -> frozenset[str]:
    """`lucene`, `none`, or a path to a file with one word per line (`#` starts a comment)."""
    if spec in NAMED:
        return NAMED[spec]
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"unknown stopword list {spec!r}",
            where="encoder.analyzer.stopwords",
            fix=f"use one of {', '.join(NAMED)} or a path to a file with one word per line",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"not UTF-8 text ({err.reason} at byte {err.start})",
            where=str(path),
            fix="save the stopword list as UTF-8, one word per line",
        ) from None
    words = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(w for w in words if w)
