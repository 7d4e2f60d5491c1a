"""Resumable encoding: documents are encoded in fixed-size shards, each saved atomically.

A shard folder exists only once it is complete (written under a temporary name, then
renamed), so a rerun of an interrupted encode skips exactly the finished shards. Merging
streams the shards into one CSR folder, so memory stays bounded by a shard.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sparsecli.io.arrays import StringArray, load_arrays, save_arrays
from sparsecli.io.vectors import KIND, VERSION, SparseVectors, load_vectors, nnz_stats
from sparsecli.rundir import remove_path

SHARD_KIND = "encode-shard"


class ShardStore:
    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, index: int) -> Path:
        return self.folder / f"{index:06d}"

    def has(self, index: int) -> bool:
        return (self._path(index) / "manifest.json").is_file()

    def write(self, index: int, vectors: SparseVectors, df: np.ndarray | None) -> None:
        final = self._path(index)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        remove_path(tmp)
        arrays = {
            "indptr": vectors.indptr,
            "indices": vectors.indices,
            "data": vectors.data,
            **vectors.ids.arrays("ids"),
        }
        if df is not None:
            arrays["df"] = df
        save_arrays(tmp, SHARD_KIND, VERSION, arrays, {"n_cols": vectors.n_cols})
        os.replace(tmp, final)

    def load(self, index: int) -> tuple[SparseVectors, np.ndarray | None]:
        arrays, manifest = load_arrays(self._path(index), SHARD_KIND, VERSION)
        vectors = SparseVectors(
            arrays["indptr"],
            arrays["indices"],
            arrays["data"],
            StringArray.from_arrays(arrays, "ids"),
            manifest["n_cols"],
        )
        return vectors, arrays.get("df")

    def merge(self, count: int, out: Path, n_cols: int, meta: dict | None = None) -> SparseVectors:
        """Concatenate shards 0..count-1 into one sparse-vectors folder at `out`."""
        shards = [self.load(i)[0] for i in range(count)]
        indptr_parts, id_offset_parts, nnz, id_bytes = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)], 0, 0
        for shard in shards:
            indptr_parts.append(np.asarray(shard.indptr[1:]) + nnz)
            id_offset_parts.append(np.asarray(shard.ids.offsets[1:]) + id_bytes)
            nnz += shard.nnz
            id_bytes += int(shard.ids.offsets[-1])
        indptr = np.concatenate(indptr_parts)
        arrays = {
            "indptr": indptr,
            "indices": [s.indices for s in shards],
            "data": [s.data for s in shards],
            "ids_offsets": np.concatenate(id_offset_parts),
            "ids_utf8": [s.ids.blob for s in shards],
        }
        save_arrays(out, KIND, VERSION, arrays, {"n_cols": n_cols, "stats": nnz_stats(indptr), **(meta or {})})
        return load_vectors(out)

    def remove(self) -> None:
        remove_path(self.folder)
