"""Sparse weight times dense activations on the CPU: y = W x, W a CSR matrix [out, in].

Activations come in transposed, x [in, batch] C-contiguous, so each stored weight W[i, j]
scales one contiguous row x[j] into the output row y[i]: an axpy over the batch, which
vectorises. Output rows are split across threads; each row is summed by one thread, its
weights in stored order (ascending column when the CSR is sorted), and the batch lanes never
mix, so every output element has one fixed summation order: results do not depend on the
thread count, the batch size or a column's position in the batch.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(inline="always")
def _axpy(a, x, j, out, row):
    """out[row] += a * x[j], rows of float32 [batch]."""
    # 2-D indexing rather than row slices: a slice per stored weight costs more than the axpy
    for b in range(out.shape[1]):
        out[row, b] += a * x[j, b]


@nb.njit(inline="always")
def _row_dot(indptr, indices, values, x, row):
    """Row `row` of W times the single column x[:, 0]; the same order as the axpy path."""
    total = np.float32(0.0)
    for p in range(indptr[row], indptr[row + 1]):
        total += values[p] * x[indices[p], 0]
    return total


@nb.njit(parallel=True, cache=True)
def csr_matmul(indptr, indices, values, x, bias, out):
    """out = W x (+ bias), overwriting out.

    W is CSR [out, in]: indptr int64 [out + 1], indices int32 [nnz] (columns, ascending
    within a row for the documented summation order), values float32 [nnz]. x float32
    [in, batch], C-contiguous. bias float32 [out], or [0] for none; it is added after the
    row's sum. out float32 [out, batch], C-contiguous, written in full.
    Indices are not bounds-checked: the caller validates them (sparsity/csr.py).
    """
    n_rows, batch = out.shape
    has_bias = bias.shape[0] > 0
    for row in nb.prange(n_rows):
        if batch == 1:
            # one column: a scalar accumulator in a register, not a load/store per weight
            out[row, 0] = _row_dot(indptr, indices, values, x, row)
        else:
            out[row, :] = 0.0
            for p in range(indptr[row], indptr[row + 1]):
                _axpy(values[p], x, indices[p], out, row)
        if has_bias:
            for b in range(batch):
                out[row, b] += bias[row]
