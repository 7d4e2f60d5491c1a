"""Checks that turn raw records into a trustworthy collection: unique ids, no silent empty
documents, queries restricted to the judged ones of the split."""

from __future__ import annotations

import logging
from typing import Iterable, Iterator, NamedTuple, Sequence

from sparsecli.data.config import OnEmpty
from sparsecli.data.qrels import Duplicates, checked
from sparsecli.data.source import Source
from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import InputError

log = logging.getLogger(__name__)


class QuerySet(NamedTuple):
    queries: list[Query]
    qrels: list[Qrel] | None
    report: dict  # counts worth recording in the manifest


def checked_docs(source: Source, on_empty: OnEmpty, fields: Sequence[str], report: dict) -> Iterator[Doc]:
    """Yield documents, rejecting duplicate ids and handling empty documents per `on_empty`."""
    seen: set[str] = set()
    report.setdefault("empty_docs", 0)
    for doc in source.docs():
        if not doc.doc_id.strip() or any(c.isspace() for c in doc.doc_id):
            raise InputError(
                f"document id {doc.doc_id!r} is empty or contains whitespace",
                where=doc.where,
                fix="ids must be single tokens (TREC run files are whitespace-separated)",
            )
        if doc.doc_id in seen:
            first = next(d.where for d in source.docs() if d.doc_id == doc.doc_id)
            raise InputError(
                f'duplicate document id "{doc.doc_id}" (first at {first})',
                where=doc.where,
                fix="make document ids unique",
            )
        seen.add(doc.doc_id)
        if all(not getattr(doc, field).strip() for field in fields):
            report["empty_docs"] += 1
            if on_empty == OnEmpty.error:
                raise InputError(
                    f'document "{doc.doc_id}" is empty (no {" or ".join(fields)})',
                    where=doc.where,
                    fix="fix the corpus, or pass data.on_empty=skip to drop empty documents (as Anserini does) "
                    "or data.on_empty=keep",
                )
            if on_empty == OnEmpty.skip:
                continue
        yield doc


def _unique_queries(queries: Iterable[Query]) -> list[Query]:
    seen: dict[str, str] = {}
    kept = []
    for query in queries:
        if query.query_id in seen:
            raise InputError(
                f'duplicate query id "{query.query_id}" (first at {seen[query.query_id]})',
                where=query.where,
                fix="make query ids unique",
            )
        if not query.query_id.strip() or any(c.isspace() for c in query.query_id):
            raise InputError(
                f"query id {query.query_id!r} is empty or contains whitespace", where=query.where, fix="fix the id"
            )
        seen[query.query_id] = query.where
        kept.append(query)
    return kept


def load_queries(source: Source, max_queries: int | None = None, duplicates: Duplicates = Duplicates.error) -> QuerySet:
    """Queries of the split (those with judgments), in file order, and the split's qrels, each
    pair judged once (data.qrels.checked). Raises InputError for bad or repeated judgments."""
    queries = _unique_queries(source.queries())
    report: dict = {"queries_in_file": len(queries)}
    qrels = checked(source.qrels(), duplicates) if source.qrels else None
    if qrels is not None:
        judged = {q.query_id for q in qrels}
        known = {q.query_id for q in queries}
        missing = sorted(judged - known)
        if missing:
            log.warning("%d judged queries have no text in the queries file, e.g. %s", len(missing), missing[:5])
        report["judged_without_text"] = len(missing)
        queries = [q for q in queries if q.query_id in judged]
        if not queries:
            raise InputError(
                "no query of the queries file has judgments in the qrels",
                where=source.label,
                fix="check data.split and that query ids match between queries and qrels",
            )
    if max_queries is not None:
        queries = queries[:max_queries]
        if qrels is not None:
            kept = {q.query_id for q in queries}
            qrels = [q for q in qrels if q.query_id in kept]
    empty = [q.query_id for q in queries if not q.text.strip()]
    if empty:
        log.warning("%d queries have empty text, e.g. %s", len(empty), empty[:5])
    report.update(queries=len(queries), empty_queries=len(empty))
    if qrels is not None:
        report["qrels"] = len(qrels)
    return QuerySet(queries, qrels, report)
