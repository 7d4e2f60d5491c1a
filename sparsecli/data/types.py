"""The records every reader yields, whatever the source format."""

from __future__ import annotations

from typing import NamedTuple


class Doc(NamedTuple):
    doc_id: str
    title: str
    text: str
    where: str  # "file:line" (or "source #n") for error messages


class Query(NamedTuple):
    query_id: str
    text: str
    where: str


class Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int  # an integer grade (data.qrels.grade)
    where: str  # "file:line" (or "source #n"), so that a bad or repeated judgment can be named
