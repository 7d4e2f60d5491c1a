"""ir_datasets ids (e.g. `beir/scifact/test`, `msmarco-passage/dev/small`).

Needs the optional dependency `pip install 'sparsecli[irds]'` and, on first use, network
access to download the collection into ir_datasets' cache (~/.ir_datasets).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, TypeVar

from sparsecli.data.qrels import grade
from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import ConfigError, InputError

log = logging.getLogger(__name__)
T = TypeVar("T")


def load(dataset_id: str) -> Any:
    try:
        import ir_datasets
    except ImportError:
        raise ConfigError(
            "ir_datasets is not installed", where="data.format=irds", fix="pip install 'sparsecli[irds]'"
        ) from None
    # ir_datasets logs every download attempt and retry; one line of ours says what happens.
    # Its logger sets its own level on first use, so it is made first, then quietened.
    ir_datasets.log.easy().logger().setLevel(logging.ERROR)
    log.info("ir_datasets: reading %s (downloaded into ~/.ir_datasets on first use)", dataset_id)
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise ConfigError(
            f"unknown ir_datasets id {dataset_id!r}", where="data.irds_id", fix="see https://ir-datasets.com for ids"
        ) from None


def _text(record: Any, name: str) -> str:
    value = getattr(record, name, None)
    return value if isinstance(value, str) else ""


def _downloading(dataset_id: str, records: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Records of the dataset; a failed download becomes one line naming data_root."""
    try:
        yield from records()
    except OSError as err:  # requests' ConnectionError and friends
        raise InputError(
            f"cannot download ir_datasets {dataset_id} ({type(err).__name__}: no network?)",
            where="data",
            fix="read a local copy: pass data_root=<folder> (e.g. data_root=../shared/data) or set "
            "SPARSECLI_DATA_ROOT; or data=beir data.path=<BEIR folder>",
        ) from None


def read_docs(dataset: Any, dataset_id: str) -> Iterator[Doc]:
    for number, doc in enumerate(_downloading(dataset_id, dataset.docs_iter), start=1):
        text = _text(doc, "text") or (doc.default_text() if hasattr(doc, "default_text") else "")
        yield Doc(str(doc.doc_id), _text(doc, "title"), text, f"ir_datasets:{dataset_id} doc #{number}")


def read_queries(dataset: Any, dataset_id: str) -> Iterator[Query]:
    for number, query in enumerate(_downloading(dataset_id, dataset.queries_iter), start=1):
        text = _text(query, "text") or (query.default_text() if hasattr(query, "default_text") else "")
        yield Query(str(query.query_id), text, f"ir_datasets:{dataset_id} query #{number}")


def read_qrels(dataset: Any, dataset_id: str) -> Iterator[Qrel]:
    for number, qrel in enumerate(_downloading(dataset_id, dataset.qrels_iter), start=1):
        where = f"ir_datasets:{dataset_id} qrel #{number}"
        yield Qrel(str(qrel.query_id), str(qrel.doc_id), grade(qrel.relevance, where), where)
