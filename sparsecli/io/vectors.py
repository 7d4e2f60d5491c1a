"""Sparse vectors (one row per document or query) as a CSR array folder with string ids."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from sparsecli.io.arrays import StringArray, load_arrays, save_arrays

KIND = "sparse-vectors"
VERSION = 1


class SparseVectors(NamedTuple):
    """CSR rows: row i has columns indices[indptr[i]:indptr[i+1]] (ascending) with weights data[...]."""

    indptr: np.ndarray  # int64, n_rows + 1
    indices: np.ndarray  # int32, nnz
    data: np.ndarray  # float32, nnz
    ids: StringArray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.indptr[i], self.indptr[i + 1]
        return self.indices[start:end], self.data[start:end]


def nnz_stats(vectors: SparseVectors) -> dict:
    lengths = np.diff(vectors.indptr)
    return {
        "rows": vectors.n_rows,
        "nnz": vectors.nnz,
        "mean": round(float(lengths.mean()), 4) if len(lengths) else 0.0,
        "max": int(lengths.max()) if len(lengths) else 0,
        "empty_rows": int((lengths == 0).sum()),
    }


def save_vectors(folder: Path, vectors: SparseVectors, meta: dict | None = None) -> None:
    arrays = {"indptr": vectors.indptr, "indices": vectors.indices, "data": vectors.data, **vectors.ids.arrays("ids")}
    save_arrays(folder, KIND, VERSION, arrays, {"n_cols": vectors.n_cols, "stats": nnz_stats(vectors), **(meta or {})})


def load_vectors(folder: Path, *, mmap: bool = True, verify: bool = False) -> SparseVectors:
    arrays, manifest = load_arrays(folder, KIND, VERSION, mmap=mmap, verify=verify)
    return SparseVectors(
        arrays["indptr"], arrays["indices"], arrays["data"], StringArray.from_arrays(arrays, "ids"), manifest["n_cols"]
    )
