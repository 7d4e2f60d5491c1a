"""Resumable document encoding whose output does not depend on how it was cut up.

Two passes over the collection, both kept in the run's work folder:
1. `tokens/`: every document tokenized, in collection order (the token ids, their
   offsets, where pooling starts, the document ids). Cheap next to the model, so an
   interruption here starts it again.
2. `shards-<size>/<n>/`: the documents in one fixed order, longest first (ties by position),
   are cut into batches, and consecutive batches into shards of `size` documents. Each
   shard is written under a temporary name and renamed, so a rerun skips exactly the
   finished ones.

A batch is a function of the collection and the batch size alone, so the shard size, an
interruption (and, later, the number of workers) never change a byte of the vectors.
`merge` writes the shards' rows back in collection order.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from sparsecli.io.arrays import StringArray, load_arrays, save_arrays
from sparsecli.io.files import atomic_path, remove_path
from sparsecli.io.vectors import KIND, VERSION, SparseVectors, load_vectors, nnz_stats

log = logging.getLogger(__name__)

TOKENS_KIND = "encode-tokens"
SHARD_KIND = "encode-shard"


class TokenTable(NamedTuple):
    """Every document's token ids, in collection order."""

    ids: np.ndarray  # int32 [n_tokens]: every document's token ids, one after the other
    offsets: np.ndarray  # int64 [n_docs + 1]: document d's tokens are ids[offsets[d]:offsets[d + 1]]
    pool_start: np.ndarray  # int32 [n_docs]: pooling starts there (echo: the second copy)
    doc_ids: StringArray

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def length_order(self) -> np.ndarray:
        """Document positions, longest first, ties by position: the order batches are cut in."""
        return np.lexsort((np.arange(self.n_docs), -self.lengths())).astype(np.int64)


def shard_docs(shard_size: int, batch_size: int) -> int:
    """Documents per shard: whole batches, so shard boundaries never cut one."""
    return max(1, -(-shard_size // batch_size)) * batch_size


class ShardStore:
    def __init__(self, workdir: Path, docs_per_shard: int):
        self.workdir = workdir
        self.docs_per_shard = docs_per_shard
        self.folder = workdir / f"shards-{docs_per_shard}"

    # ------------------------------------------------------------------ pass 1

    def load_tokens(self) -> Optional[TokenTable]:
        folder = self.workdir / "tokens"
        if not (folder / "manifest.json").is_file():
            return None
        arrays, _ = load_arrays(folder, TOKENS_KIND, VERSION)
        doc_ids = StringArray.from_arrays(arrays, "doc_ids")
        return TokenTable(arrays["ids"], arrays["offsets"], arrays["pool_start"], doc_ids)

    def save_tokens(
        self, parts: list[np.ndarray], lengths: list[int], pool_start: list[int], doc_ids: list[str]
    ) -> TokenTable:
        """Keep the first pass (each document's token ids, in collection order) and load it back."""
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        arrays = {
            "ids": parts if parts else np.zeros(0, np.int32),
            "offsets": offsets,
            "pool_start": np.asarray(pool_start, dtype=np.int32),
            **StringArray.pack(doc_ids).arrays("doc_ids"),
        }
        with atomic_path(self.workdir / "tokens") as tmp:
            save_arrays(tmp, TOKENS_KIND, VERSION, arrays, {"docs": len(lengths)})
        return self.load_tokens()

    # ------------------------------------------------------------------ pass 2

    def _path(self, index: int) -> Path:
        return self.folder / f"{index:06d}"

    def has(self, index: int) -> bool:
        return (self._path(index) / "manifest.json").is_file()

    def drop_other_sizes(self) -> None:
        """Shards of another size (an earlier attempt with another encoder.shard_size) cannot be reused."""
        if self.workdir.is_dir():
            for other in self.workdir.iterdir():
                if re.fullmatch(r"shards-\d+", other.name) and other != self.folder:
                    log.warning("dropping shards of %s documents (encoder.shard_size changed)", other.name[7:])
                    remove_path(other)

    def finished(self, count: int) -> int:
        """How many of shards 0..count-1 are finished."""
        return sum(self.has(i) for i in range(count))

    def write(self, index: int, positions: np.ndarray, rows: SparseVectors) -> None:
        """Shard `index`: the rows of the documents at `positions` (in length order)."""
        arrays = {"positions": positions, "indptr": rows.indptr, "indices": rows.indices, "data": rows.data}
        with atomic_path(self._path(index)) as tmp:
            save_arrays(tmp, SHARD_KIND, VERSION, arrays, {"n_cols": rows.n_cols})

    def merge(self, count: int, out: Path, tokens: TokenTable, n_cols: int) -> SparseVectors:
        """Shards 0..count-1 as one sparse-vectors folder at `out`, rows in collection order."""
        shards = [load_arrays(self._path(i), SHARD_KIND, VERSION)[0] for i in range(count)]
        nnz_per_doc = np.zeros(tokens.n_docs, dtype=np.int64)
        for shard in shards:
            nnz_per_doc[shard["positions"]] = np.diff(shard["indptr"])
        indptr = np.zeros(tokens.n_docs + 1, dtype=np.int64)
        np.cumsum(nnz_per_doc, out=indptr[1:])
        out.mkdir(parents=True, exist_ok=True)
        # Filled in place through memory maps: memory stays bounded by one shard.
        indices = np.lib.format.open_memmap(out / "indices.npy", mode="w+", dtype=np.int32, shape=(int(indptr[-1]),))
        data = np.lib.format.open_memmap(out / "data.npy", mode="w+", dtype=np.float32, shape=(int(indptr[-1]),))
        for shard in shards:
            lengths = np.diff(shard["indptr"])
            within = np.arange(int(shard["indptr"][-1])) - np.repeat(shard["indptr"][:-1], lengths)
            target = np.repeat(indptr[shard["positions"]], lengths) + within
            indices[target] = shard["indices"]
            data[target] = shard["data"]
        arrays = {"indptr": indptr, "indices": indices, "data": data, **tokens.doc_ids.arrays("ids")}
        save_arrays(out, KIND, VERSION, arrays, {"n_cols": n_cols, "stats": nnz_stats(indptr)})
        return load_vectors(out)
