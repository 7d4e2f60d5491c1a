"""ir_datasets ids (e.g. `beir/scifact/test`, `msmarco-passage/dev/small`).

Needs the optional dependency `pip install 'sparsecli[irds]'` and, on first use, network
access to download the collection into ir_datasets' cache (~/.ir_datasets).
"""

from __future__ import annotations

from typing import Any, Iterator

from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import ConfigError


def load(dataset_id: str) -> Any:
    try:
        import ir_datasets
    except ImportError:
        raise ConfigError(
            "ir_datasets is not installed", where="data.format=irds", fix="pip install 'sparsecli[irds]'"
        ) from None
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise ConfigError(
            f"unknown ir_datasets id {dataset_id!r}", where="data.irds_id", fix="see https://ir-datasets.com for ids"
        ) from None


def _text(record: Any, name: str) -> str:
    value = getattr(record, name, None)
    return value if isinstance(value, str) else ""


def read_docs(dataset: Any, dataset_id: str) -> Iterator[Doc]:
    for number, doc in enumerate(dataset.docs_iter(), start=1):
        text = _text(doc, "text") or (doc.default_text() if hasattr(doc, "default_text") else "")
        yield Doc(str(doc.doc_id), _text(doc, "title"), text, f"ir_datasets:{dataset_id} doc #{number}")


def read_queries(dataset: Any, dataset_id: str) -> Iterator[Query]:
    for number, query in enumerate(dataset.queries_iter(), start=1):
        text = _text(query, "text") or (query.default_text() if hasattr(query, "default_text") else "")
        yield Query(str(query.query_id), text, f"ir_datasets:{dataset_id} query #{number}")


def read_qrels(dataset: Any) -> Iterator[Qrel]:
    for qrel in dataset.qrels_iter():
        yield Qrel(str(qrel.query_id), str(qrel.doc_id), int(qrel.relevance))
