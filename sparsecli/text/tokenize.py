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


# Words made only of letters, digits, connectors, the joining punctuation of UAX#29 and other
# punctuation or symbols (no emoji, marks, format characters, Hebrew, Katakana, ideographs,
# Hiragana or Southeast Asian letters): for them UAX#29 reduces to the ASCII rules above with
# Unicode classes, a single findall instead of a segmentation (most of the non-ASCII words of
# scientific text: "β-cell", "5′-UTR", "µg/ml").
_SIMPLE_WORD = regex.compile(
    r"[\p{WB=ALetter}\p{WB=Numeric}\p{WB=ExtendNumLet}\p{WB=MidLetter}\p{WB=MidNum}\p{WB=MidNumLet}"
    r"\p{WB=Single_Quote}\p{P}\p{S}"
    r"--\p{Extended_Pictographic}--\p{Emoji_Presentation}--\p{WB=Regional_Indicator}--\p{WB=Extend}"
    r"--\p{WB=Format}--\p{WB=ZWJ}--\p{WB=Hebrew_Letter}--\p{WB=Katakana}--\p{Ideographic}"
    r"--\p{Script=Hiragana}--\p{Line_Break=Complex_Context}]+",
    flags=regex.VERSION1,
)
_W = r"[\p{WB=ALetter}\p{WB=Numeric}\p{WB=ExtendNumLet}]"
_SIMPLE_TOKEN = regex.compile(
    rf"{_W}+(?:(?:(?<=\p{{WB=ALetter}})[\p{{WB=MidLetter}}\p{{WB=MidNumLet}}\p{{WB=Single_Quote}}](?=\p{{WB=ALetter}})"
    rf"|(?<=\p{{WB=Numeric}})[\p{{WB=MidNum}}\p{{WB=MidNumLet}}\p{{WB=Single_Quote}}](?=\p{{WB=Numeric}})){_W}+)*",
    flags=regex.VERSION1,
)
_ALNUM = regex.compile(r"[\p{WB=ALetter}\p{WB=Numeric}]")


def _ascii(text: str) -> list[str]:
    tokens = _ASCII.findall(text)
    return [t for t in tokens if t.strip("_")] if "_" in text else tokens  # a lone "_" is no token


def standard(text: str) -> list[str]:
    """Lucene StandardTokenizer's tokens of `text`, in order (before its 255-character split)."""
    if text.isascii():
        return _ascii(text)
    # Whitespace always ends a UAX#29 word: the words holding a non-ASCII character are
    # tokenized alone, and the ASCII words between them together by the fast rules.
    out: list[str] = []
    plain: list[str] = []
    for word in text.split():
        if word.isascii():
            plain.append(word)
            continue
        if plain:
            out.extend(_ascii(" ".join(plain)))
            plain = []
        if _SIMPLE_WORD.fullmatch(word):
            out.extend(t for t in _SIMPLE_TOKEN.findall(word) if _ALNUM.search(t))
        else:
            out.extend(_segments(word))
    if plain:
        out.extend(_ascii(" ".join(plain)))
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
