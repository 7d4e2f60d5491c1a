"""Resolve a data config to a source of documents, queries and qrels.

Named datasets point at their public source (ir_datasets or HF). When `data_root` (or
$SPARSECLI_DATA_ROOT) is set, every named dataset reads its local copy under that root
instead, e.g. `<data_root>/ir/scifact/beir/`; generic configs (`data=beir data.path=...`)
always read the folder they are given.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

from sparsecli.config import DataConfig, DataFormat, FilesConfig
from sparsecli.data import beir, hf, irds, msmarco
from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import InputError
from sparsecli.io import trec
from sparsecli.io.checksum import stat_fingerprint
from sparsecli.io.textfile import find_file

PACKAGE_PREFIX = "pkg://sparsecli/"


class Source(NamedTuple):
    label: str  # for logs and error messages
    docs: Callable[[], Iterator[Doc]]
    queries: Callable[[], Iterator[Query]]
    qrels: Optional[Callable[[], Iterator[Qrel]]]  # None when no split is evaluated
    fingerprint: dict  # identifies the input files, to detect changes behind a cached run
    count_docs: Callable[[], Optional[int]]  # for progress bars; may be approximate or None


def resolve_path(path: str) -> Path:
    """A filesystem path; `pkg://sparsecli/...` points inside the installed package."""
    if path.startswith(PACKAGE_PREFIX):
        return Path(str(resources.files("sparsecli").joinpath(path[len(PACKAGE_PREFIX) :])))
    return Path(path).expanduser()


def open_source(data: DataConfig, data_root: str | None) -> Source:
    fmt, path, files = data.format, data.path, data.files
    if data_root and data.local.path:
        fmt, files = data.local.format, data.local.files
        path = str(Path(data_root) / data.local.path)
        if not Path(path).is_dir():
            raise InputError(
                f"no local copy of data={data.name}",
                where=path,
                fix="put the collection there, or unset data_root / SPARSECLI_DATA_ROOT to read the public source",
            )
    if fmt == DataFormat.beir:
        return _beir(resolve_path(path), files, data.split)
    if fmt == DataFormat.msmarco:
        return _msmarco(resolve_path(path), files, data.split)
    if fmt == DataFormat.irds:
        return _irds(data.irds_id, data.split)
    return _hf(data)


def _count_lines(path: Path) -> int:
    from sparsecli.io.textfile import open_binary

    with open_binary(path) as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def _require(folder: Path, name: str, what: str, fix: str) -> Path:
    if not folder.is_dir():
        raise InputError("folder not found", where=str(folder), fix="check data.path (or data_root)")
    found = find_file(folder, name)
    if found is None:
        raise InputError(f"{what} file not found", where=str(folder / name), fix=fix)
    return found


def _split_fix(qrels_dir: Path, split: str) -> str:
    splits = sorted(p.name.split(".")[0] for p in qrels_dir.glob("*.tsv*")) if qrels_dir.is_dir() else []
    available = f"available splits: {', '.join(splits)}; " if splits else ""
    return f"{available}pass data.split=<split>, or data.split=null to encode all queries without qrels"


def _files(folder: Path, corpus: Path, queries: Path, qrels: Path | None, reader) -> Source:
    """A source over local files; `reader` supplies read_docs and read_queries."""
    read_qrels = beir.read_qrels if reader is beir else trec.read_qrels
    return Source(
        str(folder),
        lambda: reader.read_docs(corpus),
        lambda: reader.read_queries(queries),
        (lambda: read_qrels(qrels)) if qrels else None,
        stat_fingerprint([p for p in (corpus, queries, qrels) if p is not None]),
        lambda: _count_lines(corpus),
    )


def _beir(folder: Path, files: FilesConfig, split: str | None) -> Source:
    corpus = _require(folder, files.corpus or "corpus.jsonl", "corpus", "is data.path a BEIR folder?")
    queries = _require(folder, files.queries or "queries.jsonl", "queries", "is data.path a BEIR folder?")
    qrels = None
    if split is not None:
        qrels = _require(folder, files.qrels or f"qrels/{split}.tsv", "qrels", _split_fix(folder / "qrels", split))
    return _files(folder, corpus, queries, qrels, beir)


def _msmarco(folder: Path, files: FilesConfig, split: str | None) -> Source:
    corpus = _require(folder, files.corpus or "collection.tsv", "collection", "is data.path an MS MARCO folder?")
    if split is None and not files.queries:
        raise InputError(
            "no queries file", where="data.files.queries", fix="pass data.split=<split> or data.files.queries=<file>"
        )
    queries = _require(folder, files.queries or f"queries.{split}.tsv", "queries", "pass data.files.queries=<file>")
    qrels = None
    if split is not None:
        qrels = _require(
            folder, files.qrels or f"qrels.{split}.tsv", "qrels", "pass data.files.qrels=<file>, or data.split=null"
        )
    return _files(folder, corpus, queries, qrels, msmarco)


def _irds(dataset_id: str, split: str | None) -> Source:
    dataset = irds.load(dataset_id)
    has_qrels = split is not None and dataset.has_qrels()
    return Source(
        f"ir_datasets:{dataset_id}",
        lambda: irds.read_docs(dataset, dataset_id),
        lambda: irds.read_queries(dataset, dataset_id),
        (lambda: irds.read_qrels(dataset)) if has_qrels else None,
        {"irds": dataset_id},
        lambda: dataset.docs_count() if dataset.has_docs() else None,
    )


def _hf(data: DataConfig) -> Source:
    spec, revision = data.hf, data.hf.revision
    label = spec.corpus.path or "hf"
    corpus = hf.load_table(spec.corpus.path, spec.corpus.name, spec.corpus.split, revision, "data.hf.corpus")
    queries = hf.load_table(spec.queries.path, spec.queries.name, spec.queries.split, revision, "data.hf.queries")
    qrels = None
    if data.split is not None:
        qrels = hf.load_table(
            spec.qrels.path, spec.qrels.name, spec.qrels.split or data.split, revision, "data.hf.qrels"
        )
    fingerprint = {
        "hf": {
            name: [t.path, t.name, t.split]
            for name, t in (("corpus", spec.corpus), ("queries", spec.queries), ("qrels", spec.qrels))
        },
        "revision": revision,
        "fingerprints": [getattr(t, "_fingerprint", None) for t in (corpus, queries, qrels) if t is not None],
    }
    return Source(
        label,
        lambda: hf.read_docs(corpus, f"{spec.corpus.path}"),
        lambda: hf.read_queries(queries, f"{spec.queries.path}"),
        (lambda: hf.read_qrels(qrels)) if qrels is not None else None,
        fingerprint,
        lambda: len(corpus),
    )
