"""Tokenizers chosen by name.

`standard` follows Lucene's StandardTokenizer, i.e. Unicode UAX#29 word boundaries, on the
rules that matter for search text: letters and digits run together ("h1n1", "5mg"); a
period, apostrophe or colon joins letters ("e.g", "don't"), and a period, comma or
apostrophe joins digits ("3.14", "10,000"); an underscore joins anything; other punctuation
and symbols split and are dropped; each CJK ideograph or Hiragana character is a token.
"""

from __future__ import annotations

from typing import Callable

import re

import regex

_WORD_CHAR = r"[\p{L}\p{M}\p{Nd}\p{Pc}\p{Cf}--\p{Han}--\p{Hiragana}]"
_LETTER = r"[\p{L}\p{M}--\p{Han}--\p{Hiragana}]"
_MID_LETTER = r"[.'’:·\u2024\uFE13\uFE52\uFE55\uFF07\uFF0E\uFF1A]"  # UAX#29 MidLetter + MidNumLet
_MID_NUM = r"[.,;'’\u066C\uFE50\uFE52\uFE54\uFF07\uFF0C\uFF0E\uFF1B]"  # UAX#29 MidNum + MidNumLet
_STANDARD = regex.compile(
    rf"[\p{{Han}}\p{{Hiragana}}]"
    rf"|{_WORD_CHAR}+(?:(?:(?<={_LETTER}){_MID_LETTER}(?={_LETTER})|(?<=\p{{Nd}}){_MID_NUM}(?=\p{{Nd}})){_WORD_CHAR}+)*",
    regex.VERSION1,
)


# A superset of the rules above without look-arounds: 2-3x faster. Its matches are split
# further by the full rules only when they contain anything but ASCII letters and digits.
_CANDIDATE = regex.compile(
    r"[\w\p{Cf}\p{M}]+(?:[.,;:'’·\u066C\u2024\uFE13\uFE50\uFE52\uFE54\uFE55\uFF07\uFF0C\uFF0E\uFF1A\uFF1B][\w\p{Cf}\p{M}]+)*"
)


# The same rules restricted to ASCII, for the common all-ASCII text: one findall, no loop.
_ASCII = re.compile(r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[.':](?=[A-Za-z])|(?<=[0-9])[.,;'](?=[0-9]))[A-Za-z0-9_]+)*")


def standard(text: str) -> list[str]:
    if text.isascii():
        return _ASCII.findall(text)
    out: list[str] = []
    for token in _CANDIDATE.findall(text):
        if token.isascii() and token.isalnum():
            out.append(token)
        else:
            out.extend(_STANDARD.findall(token))
    return out


def whitespace(text: str) -> list[str]:
    return text.split()


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"standard": standard, "whitespace": whitespace}
