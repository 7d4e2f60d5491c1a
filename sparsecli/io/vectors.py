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


def check_positive(data: np.ndarray) -> None:
    """Indexes need document weights that are finite and > 0 (a zero or negative weight would
    break the score bounds that pruning relies on). Raises InputError naming the encode run."""
    from sparsecli.errors import InputError

    if len(data) and not (np.all(np.isfinite(data)) and data.min() > 0):
        raise InputError(
            "document weights must be finite and positive",
            where="encode_run docs",
            fix="drop zero or negative weights when encoding (re-encode)",
        )


def drop_zeros(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove explicit zeros from CSR arrays."""
    keep = data != 0
    if keep.all():
        return indptr, indices, data
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))[keep]
    new_ptr = np.zeros_like(indptr)
    np.cumsum(np.bincount(rows, minlength=len(indptr) - 1), out=new_ptr[1:])
    return new_ptr, indices[keep], data[keep]


def nnz_stats(indptr: np.ndarray) -> dict:
    """Rows, nonzeros and nonzeros per row of a CSR matrix, from its indptr alone."""
    lengths = np.diff(indptr)
    return {
        "rows": len(lengths),
        "nnz": int(indptr[-1]),
        "mean": round(float(lengths.mean()), 4) if len(lengths) else 0.0,
        "max": int(lengths.max()) if len(lengths) else 0,
        "empty_rows": int((lengths == 0).sum()),
    }


def save_vectors(folder: Path, vectors: SparseVectors, meta: dict | None = None) -> None:
    arrays = {"indptr": vectors.indptr, "indices": vectors.indices, "data": vectors.data, **vectors.ids.arrays("ids")}
    save_arrays(
        folder, KIND, VERSION, arrays, {"n_cols": vectors.n_cols, "stats": nnz_stats(vectors.indptr), **(meta or {})}
    )


def load_vectors(folder: Path, *, mmap: bool = True, verify: bool = False) -> SparseVectors:
    arrays, manifest = load_arrays(folder, KIND, VERSION, mmap=mmap, verify=verify)
    return SparseVectors(
        arrays["indptr"], arrays["indices"], arrays["data"], StringArray.from_arrays(arrays, "ids"), manifest["n_cols"]
    )
