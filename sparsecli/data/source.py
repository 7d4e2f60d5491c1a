"""Resolve a data config to a source of documents, queries and qrels.

Named datasets point at their public source (ir_datasets or HF). When `data_root` (or
$SPARSECLI_DATA_ROOT) is set, every named dataset reads its local copy under that root
instead, e.g. `<data_root>/ir/scifact/beir/`; generic configs (`data=beir data.path=...`)
always read the folder they are given.

`source_fingerprint` identifies what a source reads without loading it: the sha256 of each local
file (cached, see sparsecli.io.checksum), or the ids of a remote dataset. Run keys hold it
instead of paths, so a copied collection keeps its key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

from sparsecli.data import beir, hf, irds, msmarco
from sparsecli.data.config import DataConfig, DataFormat, FilesConfig
from sparsecli.data.types import Doc, Qrel, Query
from sparsecli.errors import ConfigError, InputError
from sparsecli.io import trec
from sparsecli.io.checksum import content_sha256, fingerprint
from sparsecli.io.textfile import find_file

PACKAGE_PREFIX = "pkg://sparsecli/"


class Source(NamedTuple):
    label: str  # for logs and error messages
    docs: Callable[[], Iterator[Doc]]
    queries: Callable[[], Iterator[Query]]
    qrels: Optional[Callable[[], Iterator[Qrel]]]  # None when no split is evaluated
    count_docs: Callable[[], Optional[int]]  # for progress bars; may be approximate or None


def resolve_path(path: str) -> Path:
    """A filesystem path; `pkg://sparsecli/...` points inside the installed package."""
    if path.startswith(PACKAGE_PREFIX):
        return Path(str(resources.files("sparsecli").joinpath(path[len(PACKAGE_PREFIX) :])))
    return Path(path).expanduser()


class LocalFiles(NamedTuple):
    """The files a local source reads."""

    format: DataFormat
    folder: Path
    corpus: Path
    queries: Path
    qrels: Optional[Path]  # None when no split is evaluated


def _where(data: DataConfig, data_root: str | None) -> tuple[DataFormat, Optional[str], FilesConfig]:
    """Format, folder and file names actually read: the local copy under data_root, if set."""
    if data_root and data.local.path:
        path = str(Path(data_root) / data.local.path)
        if not Path(path).is_dir():
            raise InputError(
                f"no local copy of data={data.name}",
                where=path,
                fix="put the collection there, or unset data_root / SPARSECLI_DATA_ROOT to read the public source",
            )
        return data.local.format, path, data.local.files
    if data.format in (DataFormat.beir, DataFormat.msmarco) and not data.path:
        raise ConfigError(
            f"data={data.name} reads a local copy, and none is given",
            where="data_root",
            fix="pass data_root=<folder holding the copy> (or SPARSECLI_DATA_ROOT), or data.path=<folder>",
        )
    return data.format, data.path, data.files


def local_files(data: DataConfig, data_root: str | None) -> Optional[LocalFiles]:
    """The files of a BEIR or MS MARCO source (checked to exist); None for remote sources."""
    fmt, path, files = _where(data, data_root)
    if fmt == DataFormat.beir:
        return _beir_files(resolve_path(path), files, data.split)
    if fmt == DataFormat.msmarco:
        return _msmarco_files(resolve_path(path), files, data.split)
    return None


def source_fingerprint(data: DataConfig, data_root: str | None) -> dict:
    """What the source reads, by content for local files and by id for remote datasets."""
    located = local_files(data, data_root)
    if located is not None:
        roles = {"corpus": located.corpus, "queries": located.queries, "qrels": located.qrels}
        return {"format": located.format.value, **{r: content_sha256(p) for r, p in roles.items() if p}}
    fmt = _where(data, data_root)[0]
    if fmt == DataFormat.irds:
        return {"format": fmt.value, "irds": data.irds_id}
    tables = {}
    for role, table in (("corpus", data.hf.corpus), ("queries", data.hf.queries), ("qrels", data.hf.qrels)):
        local = table.path is not None and Path(table.path).expanduser().is_dir()
        tables[role] = [fingerprint(Path(table.path).expanduser()) if local else table.path, table.name, table.split]
    return {"format": fmt.value, "hf": tables, "revision": data.hf.revision}


def open_source(data: DataConfig, data_root: str | None) -> Source:
    located = local_files(data, data_root)
    if located is not None:
        return _files(located)
    if _where(data, data_root)[0] == DataFormat.irds:
        return _irds(data.irds_id, data.split)
    return _hf(data)


def _count_lines(path: Path) -> int:
    from sparsecli.io.textfile import open_binary

    with open_binary(path) as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))


def _require(folder: Path, name: str, what: str, fix: str) -> Path:
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.is_file() else "folder not found"
        raise InputError(what, where=str(folder), fix="check data.path (or data_root)")
    found = find_file(folder, name)
    if found is None:
        raise InputError(f"{what} file not found", where=str(folder / name), fix=fix)
    return found


def _split_fix(qrels_dir: Path) -> str:
    splits = sorted(p.name.split(".")[0] for p in qrels_dir.glob("*.tsv*")) if qrels_dir.is_dir() else []
    available = f"available splits: {', '.join(splits)}; " if splits else ""
    return f"{available}pass data.split=<split>, or data.split=null to encode all queries without qrels"


def _files(located: LocalFiles) -> Source:
    """A source over local files, read by the format's readers."""
    reader = beir if located.format == DataFormat.beir else msmarco
    read_qrels = beir.read_qrels if reader is beir else trec.read_qrels
    qrels = located.qrels
    return Source(
        str(located.folder),
        lambda: reader.read_docs(located.corpus),
        lambda: reader.read_queries(located.queries),
        (lambda: read_qrels(qrels)) if qrels else None,
        lambda: _count_lines(located.corpus),
    )


def _beir_files(folder: Path, files: FilesConfig, split: str | None) -> LocalFiles:
    corpus = _require(folder, files.corpus or "corpus.jsonl", "corpus", "is data.path a BEIR folder?")
    queries = _require(folder, files.queries or "queries.jsonl", "queries", "is data.path a BEIR folder?")
    qrels = None
    if split is not None:
        qrels = _require(folder, files.qrels or f"qrels/{split}.tsv", "qrels", _split_fix(folder / "qrels"))
    return LocalFiles(DataFormat.beir, folder, corpus, queries, qrels)


def _msmarco_files(folder: Path, files: FilesConfig, split: str | None) -> LocalFiles:
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
    return LocalFiles(DataFormat.msmarco, folder, corpus, queries, qrels)


def _irds(dataset_id: str, split: str | None) -> Source:
    dataset = irds.load(dataset_id)
    has_qrels = split is not None and dataset.has_qrels()
    return Source(
        f"ir_datasets:{dataset_id}",
        lambda: irds.read_docs(dataset, dataset_id),
        lambda: irds.read_queries(dataset, dataset_id),
        (lambda: irds.read_qrels(dataset, dataset_id)) if has_qrels else None,
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
    return Source(
        label,
        lambda: hf.read_docs(corpus, f"{spec.corpus.path}"),
        lambda: hf.read_queries(queries, f"{spec.queries.path}"),
        (lambda: hf.read_qrels(qrels)) if qrels is not None else None,
        lambda: len(corpus),
    )
