"""Kernels over CSR arrays: per-row sorting and transposition (CSR -> term-major CSC)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True)
def sort_rows(indptr, indices, data):
    """Sort each row's entries by column, in place."""
    for row in nb.prange(len(indptr) - 1):
        start, end = indptr[row], indptr[row + 1]
        if end - start > 1:
            order = np.argsort(indices[start:end], kind="mergesort")
            indices[start:end] = indices[start:end][order]
            data[start:end] = data[start:end][order]


@nb.njit(cache=True)
def transpose(indptr, indices, data, n_cols):
    """CSR (rows x cols) -> CSR of the transpose; rows come out ascending within each column."""
    counts = np.zeros(n_cols + 1, dtype=np.int64)
    for j in indices:
        counts[j + 1] += 1
    out_ptr = np.cumsum(counts)
    out_rows = np.empty(len(indices), dtype=np.int32)
    out_data = np.empty(len(indices), dtype=data.dtype)
    cursor = out_ptr[:-1].copy()
    for row in range(len(indptr) - 1):
        for p in range(indptr[row], indptr[row + 1]):
            j = indices[p]
            out_rows[cursor[j]] = row
            out_data[cursor[j]] = data[p]
            cursor[j] += 1
    return out_ptr, out_rows, out_data
