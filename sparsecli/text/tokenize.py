"""Tokenizers chosen by name.

`standard` is Lucene's StandardTokenizer: Unicode UAX#29 word boundaries (from the `regex`
module, which implements them), keeping the segments Lucene keeps: those holding a letter,
digit, Katakana, ideograph, Hiragana, Southeast Asian letter or emoji. Letters and digits run
together ("h1n1"), a period, apostrophe or colon joins letters ("e.g", "don't"), a period,
comma or apostrophe joins digits ("3.14", "10,000"), an underscore joins anything but stands
alone as nothing, each ideograph or Hiragana letter is a token, an emoji (with its modifiers
and joiners) is a token, and a run of Southeast Asian letters (Thai, Lao, ...) is one token,
as Lucene's grammar has it (UAX#29 leaves their words to a dictionary). Other punctuation,
symbols and spaces split and are dropped. Checked against Lucene 9.5's own output for SciFact
(tests/test_lucene_parity.py).
"""

from __future__ import annotations

import re
from typing import Callable

import regex

# UAX#29 word boundaries: zero-width splits between every segment, spaces and punctuation included.
_BOUNDARIES = regex.compile(r"\b", flags=regex.WORD | regex.VERSION1)
# A segment Lucene emits holds one of these (its <ALPHANUM>, <NUM>, <KATAKANA>, <IDEOGRAPHIC>,
# <HIRAGANA>, <HANGUL>, <SOUTHEAST_ASIAN> and <EMOJI> token types).
_KEPT = regex.compile(
    r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}\p{WB=Numeric}\p{WB=Katakana}\p{Ideographic}\p{Script=Hiragana}"
    r"\p{Line_Break=Complex_Context}\p{Extended_Pictographic}\p{Emoji_Presentation}\p{WB=Regional_Indicator}]"
)
_SOUTHEAST_ASIAN = regex.compile(r"[\p{Line_Break=Complex_Context}\p{M}]+")

# The same rules for ASCII text, the common case: one findall, no segmentation.
_ASCII = re.compile(r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[.':](?=[A-Za-z])|(?<=[0-9])[.,;'](?=[0-9]))[A-Za-z0-9_]+)*")
# Whitespace-delimited words that hold a non-ASCII character. Whitespace always ends a UAX#29
# word, so these can be segmented alone and the ASCII between them by the fast rules.
_NON_ASCII_WORDS = re.compile(r"(\S*[^\x00-\x7f]\S*)")


def _ascii(text: str) -> list[str]:
    tokens = _ASCII.findall(text)
    return [t for t in tokens if t.strip("_")] if "_" in text else tokens  # a lone "_" is no token


def standard(text: str) -> list[str]:
    """Lucene StandardTokenizer's tokens of `text`, in order (before its 255-character split)."""
    if text.isascii():
        return _ascii(text)
    out: list[str] = []
    parts = _NON_ASCII_WORDS.split(text)  # ASCII, word, ASCII, word, ..., ASCII
    for i, part in enumerate(parts):
        out.extend(_segments(part) if i % 2 else _ascii(part))
    return out


def _segments(text: str) -> list[str]:
    """The tokens of `text` by UAX#29 segmentation (slower than the ASCII rules)."""
    out: list[str] = []
    southeast = False  # the last token is a run of Southeast Asian letters, which the next may extend
    for segment in _BOUNDARIES.split(text):
        if not segment or not _KEPT.search(segment):
            southeast = False
            continue
        joins = _SOUTHEAST_ASIAN.fullmatch(segment) is not None
        if joins and southeast:
            out[-1] += segment
        else:
            out.append(segment)
        southeast = joins
    return out


def whitespace(text: str) -> list[str]:
    return text.split()


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"standard": standard, "whitespace": whitespace}
