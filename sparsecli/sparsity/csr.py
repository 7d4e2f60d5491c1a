"""Pruned Linear layers as CSR matrices: export, load, and CPU inference of pruned encoders.

`sparse prune` leaves zeros in place in a dense checkpoint, which saves no memory and no time.
This module stores each pruned layer's kept weights as CSR [out, in] and multiplies by them on
the CPU with torch's sparse CSR product, so an encoder pruned to high sparsity can run
with fewer multiply-adds than its dense form. `swap_in` replaces the layers of a loaded model.

File format: one safetensors file (no pickle). Per layer name (the module's qualified name):
`<name>.indptr` int64 [out + 1], `<name>.indices` int32 [nnz] (columns, ascending within each
row), `<name>.values` float32 [nnz], and `<name>.bias` float32 [out] when the layer has one.
The safetensors metadata holds one key, "csr": a JSON object {"format": "csr", "version": 1,
"layout": "[out, in]", "shapes": {name: [out, in]} in model order}. One key, because
safetensors writes a metadata map of several keys in no fixed order, and the same layers must
give the same bytes. A GPT-2 `Conv1D`,
stored [in, out], is exported in the same [out, in] layout (layers.matrix).

2:4 semi-structured sparsity (torch.sparse.to_sparse_semi_structured) is a different route: a
CUDA-only conversion done when a model is loaded onto a GPU, with its own kernels. It is not
handled here; a 2:4-pruned layer exported here is simply a CSR matrix at 50%.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sparsecli.sparsity import layers

FORMAT = "csr"
VERSION = 1
LAYOUT = "[out, in]"
_PARTS = {"indptr": np.int64, "indices": np.int32, "values": np.float32}


class CSR(NamedTuple):
    """A matrix [out, in] in CSR form: indptr int64 [out + 1], indices int32 [nnz] (ascending
    within each row), values float32 [nnz], shape (out, in)."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])


def to_csr(weight: torch.Tensor, keep: torch.Tensor | None = None) -> CSR:
    """The entries of `weight` (any float dtype and device, [out, in]) that `keep` (bool
    [out, in]) keeps, or its nonzeros when keep is None, as float32 CSR with sorted columns.
    A kept weight that happens to be zero is stored.

    Raises ValueError when weight is not 2-D, keep's shape differs, or in >= 2**31."""
    if weight.dim() != 2:
        raise ValueError(f"expected a weight [out, in], got shape {list(weight.shape)}")
    n_out, n_in = weight.shape
    if n_in >= 2**31:
        raise ValueError(f"{n_in} columns do not fit int32 indices")
    dense = weight.detach().to("cpu", torch.float32).numpy()
    if keep is None:
        nonzero = dense != 0
    else:
        if tuple(keep.shape) != (n_out, n_in):
            raise ValueError(f"mask shape {list(keep.shape)} differs from the weight's {[n_out, n_in]}")
        nonzero = keep.detach().to("cpu", torch.bool).numpy()
    indptr = np.zeros(n_out + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(nonzero, axis=1), out=indptr[1:])
    # np.nonzero walks row-major, so columns come out ascending within each row
    _, columns = np.nonzero(nonzero)
    return CSR(indptr, columns.astype(np.int32), dense[nonzero].astype(np.float32), (int(n_out), int(n_in)))


class CSRLinear(nn.Module):
    """y = x W^T + b with W held as CSR [out, in], for CPU inference of pruned layers.

    forward(x [..., in]) -> [..., out], contiguous. CPU float32 input (not requiring a gradient)
    runs torch's sparse CSR product on torch's threads; anything else (other
    devices, dtypes, autograd) falls back to F.linear on a dense copy of W built per call, which
    is correct but gives none of the savings. The arrays are buffers: indptr int64 [out + 1],
    indices int32 [nnz], values float32 [nnz], bias float32 [out] or None.
    """

    def __init__(self, csr: CSR, bias: torch.Tensor | np.ndarray | None = None):
        super().__init__()
        self.out_features, self.in_features = csr.shape
        self.register_buffer("indptr", torch.from_numpy(np.ascontiguousarray(csr.indptr, dtype=np.int64)))
        self.register_buffer("indices", torch.from_numpy(np.ascontiguousarray(csr.indices, dtype=np.int32)))
        self.register_buffer("values", torch.from_numpy(np.ascontiguousarray(csr.values, dtype=np.float32)))
        if bias is not None:
            bias = torch.as_tensor(bias).detach().to("cpu", torch.float32).contiguous().clone()
            if bias.shape != (self.out_features,):
                raise ValueError(f"bias shape {list(bias.shape)}, expected [{self.out_features}]")
        self.register_buffer("bias", bias)

    @classmethod
    def from_linear(cls, module: nn.Module, keep: torch.Tensor | None = None) -> CSRLinear:
        """From an nn.Linear or a GPT-2 Conv1D and its keep mask (bool [out, in]; None keeps the
        weight's nonzeros). Raises ValueError on a mask of the wrong shape."""
        bias = getattr(module, "bias", None)
        return cls(to_csr(layers.matrix(module), keep), bias)

    @property
    def csr(self) -> CSR:
        return CSR(
            self.indptr.numpy(), self.indices.numpy(), self.values.numpy(), (self.out_features, self.in_features)
        )

    def dense(self) -> torch.Tensor:
        """W as a dense tensor [out, in], on the buffers' device and dtype."""
        rows = torch.repeat_interleave(
            torch.arange(self.out_features, device=self.indptr.device), self.indptr.diff(), output_size=len(self.values)
        )
        weight = torch.zeros(self.out_features, self.in_features, dtype=self.values.dtype, device=self.values.device)
        weight[rows, self.indices.long()] = self.values
        return weight

    def extra_repr(self) -> str:
        density = len(self.values) / max(1, self.out_features * self.in_features)
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, density={density:.4f}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._kernel_applies(x):
            bias = None if self.bias is None else self.bias.to(x.device, x.dtype)
            return F.linear(x, self.dense().to(x.device, x.dtype), bias)
        lead = x.shape[:-1]
        # W [out, in] @ X^T [in, batch]: torch's CSR product (MKL's sparse BLAS on x86), which
        # measured 3.05x dense at 90% against 1.30x for a numba kernel of ours (bench_prune.py)
        out = (self._sparse() @ x.reshape(-1, self.in_features).T).T
        if self.bias is not None:
            out = out + self.bias
        # contiguous, as F.linear's is: model code may .view() the result
        return out.contiguous().reshape(*lead, self.out_features)

    def _sparse(self) -> torch.Tensor:
        """The weight as a torch sparse CSR tensor, built once."""
        if getattr(self, "_csr_tensor", None) is None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta": stable for this product
                # the arrays were checked when read (read_layers) or built (to_csr)
                self._csr_tensor = torch.sparse_csr_tensor(
                    self.indptr,
                    self.indices.long(),
                    self.values,
                    (self.out_features, self.in_features),
                    check_invariants=False,
                )
        return self._csr_tensor

    def _kernel_applies(self, x: torch.Tensor) -> bool:
        buffers = (self.indptr, self.indices, self.values) + (() if self.bias is None else (self.bias,))
        return (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and not (x.requires_grad and torch.is_grad_enabled())
            and all(b.device.type == "cpu" for b in buffers)
            and self.values.dtype == torch.float32
            and (self.bias is None or self.bias.dtype == torch.float32)
            and x.shape[-1] == self.in_features
        )


def export(modules: Mapping[str, nn.Module], masks: Mapping[str, torch.Tensor], path) -> Path:
    """Write `modules` (nn.Linear or Conv1D, by qualified name) as CSR to one safetensors file.

    Each layer's kept weights are those of masks[name] (bool [out, in]); a layer without a mask
    keeps its nonzero weights. The file is written beside `path` and renamed into place, so a
    reader never sees half a file. Returns the path. Raises ValueError for a mask naming no
    module, or one whose shape is not the module's [out, in]."""
    from safetensors.numpy import save_file

    unknown = sorted(set(masks) - set(modules))
    if unknown:
        raise ValueError(f"masks for layers not given: {', '.join(unknown)}")
    tensors, shapes = {}, {}
    for name, module in modules.items():
        csr = to_csr(layers.matrix(module), masks.get(name))
        shapes[name] = list(csr.shape)
        tensors[f"{name}.indptr"] = csr.indptr
        tensors[f"{name}.indices"] = csr.indices
        tensors[f"{name}.values"] = csr.values
        bias = getattr(module, "bias", None)
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().to("cpu", torch.float32).numpy()
    metadata = {"csr": json.dumps({"format": FORMAT, "version": VERSION, "layout": LAYOUT, "shapes": shapes})}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def load(path) -> dict[str, CSR]:
    """What export wrote: {name: CSR [out, in]}, in the order written (biases: read_layers).

    Raises FileNotFoundError for a missing file, ValueError (one line, naming the file) for one
    that is not a valid version-1 CSR file: not safetensors, other metadata, missing or extra
    tensors, wrong dtypes, inconsistent indptr, out-of-range or unsorted columns."""
    return {name: csr for name, (csr, _) in read_layers(path).items()}


def read_layers(path) -> dict[str, tuple[CSR, np.ndarray | None]]:
    """{name: (CSR, bias float32 [out] or None)} from a file export wrote; errors as load's."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSR file at {path}")

    def bad(reason: str) -> ValueError:
        return ValueError(f"{path}: not a CSR layer file ({' '.join(str(reason).split())})")

    try:
        with safe_open(str(path), framework="numpy") as handle:
            keys = set(handle.keys())
            try:
                header = json.loads((handle.metadata() or {}).get("csr", ""))
            except json.JSONDecodeError as error:
                raise bad(f"its csr metadata is not JSON: {error}") from None
            if not isinstance(header, dict):
                raise bad("its csr metadata is not an object")
            if header.get("format") != FORMAT or header.get("layout") != LAYOUT:
                raise bad(f"format {header.get('format')!r}, layout {header.get('layout')!r}")
            if header.get("version") != VERSION:
                raise bad(f"version {header.get('version')!r}, this reader knows {VERSION}")
            shapes = header.get("shapes")
            if not isinstance(shapes, dict):
                raise bad("shapes metadata is not an object")
            expected = {f"{n}.{part}" for n in shapes for part in _PARTS}
            missing = sorted(expected - keys)
            extra = sorted(keys - expected - {f"{n}.bias" for n in shapes})
            if missing or extra:
                raise bad(f"missing tensors {missing[:3]}, unexpected tensors {extra[:3]}")
            out = {}
            for name, shape in shapes.items():
                arrays = {part: handle.get_tensor(f"{name}.{part}") for part in _PARTS}
                bias = handle.get_tensor(f"{name}.bias") if f"{name}.bias" in keys else None
                problem = _check(shape, arrays, bias)
                if problem:
                    raise bad(f"layer {name}: {problem}")
                out[name] = (CSR(arrays["indptr"], arrays["indices"], arrays["values"], tuple(shape)), bias)
            return out
    except SafetensorError as error:
        raise bad(error) from None


def _check(shape, arrays: dict, bias) -> str | None:
    """Why these arrays are not a valid CSR of `shape`, or None. The kernel does not bounds-check
    its indices, so everything it reads through them is checked here."""
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(s, int) and s >= 0 for s in shape)):
        return f"shape {shape!r} is not [out, in]"
    n_out, n_in = shape
    for part, dtype in _PARTS.items():
        if arrays[part].dtype != dtype or arrays[part].ndim != 1:
            return f"{part} is {arrays[part].dtype} {list(arrays[part].shape)}, expected 1-D {np.dtype(dtype)}"
    indptr, indices, values = arrays["indptr"], arrays["indices"], arrays["values"]
    if len(indptr) != n_out + 1 or indptr[0] != 0 or (np.diff(indptr) < 0).any():
        return "indptr is not a nondecreasing [out + 1] from 0"
    if indptr[-1] != len(indices) or len(indices) != len(values):
        return f"indptr ends at {indptr[-1]}, with {len(indices)} indices and {len(values)} values"
    if len(indices) and (indices.min() < 0 or indices.max() >= n_in):
        return f"a column index is outside [0, {n_in})"
    rows = np.repeat(np.arange(n_out), np.diff(indptr))
    if ((np.diff(indices) <= 0) & (rows[1:] == rows[:-1])).any():
        return "columns are not strictly ascending within a row"
    if bias is not None and (bias.dtype != np.float32 or bias.shape != (n_out,)):
        return f"bias is {bias.dtype} {list(bias.shape)}, expected float32 [{n_out}]"
    return None


def swap_in(model: nn.Module, path) -> list[str]:
    """Replace the layers named in the CSR file at `path` by CSRLinear modules, in place; returns
    their names. Each named module must be an nn.Linear or Conv1D whose [out, in] shape matches
    the file; its bias (if any) comes from the file. For CPU inference: the new modules are on
    the CPU, and autograd or other devices take CSRLinear's slow dense fallback.

    Raises ValueError when a name is missing from the model, names another kind of module, or
    its shape or bias presence differs; load's errors for a bad file. Nothing is replaced unless
    every layer checks out."""
    found = read_layers(path)
    replacements = {}
    for name, (csr, bias) in found.items():
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"{path}: layer {name} is not in the model") from None
        if not (isinstance(module, nn.Linear) or layers.is_conv1d(module)):
            raise ValueError(f"{path}: layer {name} is a {type(module).__name__}, not a Linear or Conv1D")
        if tuple(layers.matrix(module).shape) != csr.shape:
            raise ValueError(
                f"{path}: layer {name} is {list(layers.matrix(module).shape)}, the file's {list(csr.shape)}"
            )
        if (getattr(module, "bias", None) is None) != (bias is None):
            raise ValueError(f"{path}: layer {name} bias presence differs between model and file")
        replacements[name] = CSRLinear(csr, bias)
    for name, replacement in replacements.items():
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, replacement)
    return list(replacements)
