"""Folders of memory-mappable `.npy` arrays beside a versioned JSON manifest.

Loading checks the manifest's format version and kind, and each array's dtype, shape and
file size against it, reading only .npy headers, so opening a multi-GB folder stays cheap;
checksums are verified only on request because that reads every byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sparsecli.errors import InputError
from sparsecli.io.checksum import sha256_file

MANIFEST = "manifest.json"


def _write_concatenated(path: Path, parts: list[np.ndarray]) -> np.ndarray:
    """Write 1-d parts as one .npy through a memory map, so memory stays bounded by one part."""
    total = sum(len(p) for p in parts)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=parts[0].dtype, shape=(total,))
    position = 0
    for part in parts:
        out[position : position + len(part)] = part
        position += len(part)
    out.flush()
    return out


def save_arrays(
    folder: Path, kind: str, version: int, arrays: dict[str, np.ndarray | list[np.ndarray]], meta: dict[str, Any]
) -> None:
    """Each value is an array, a list of 1-d parts written as their concatenation, or a
    memory map already open on `<folder>/<name>.npy` (filled in place by the caller)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, value in arrays.items():
        path = folder / f"{name}.npy"
        if isinstance(value, list):
            array = _write_concatenated(path, value)
        elif isinstance(value, np.memmap) and value.filename and Path(value.filename).resolve() == path.resolve():
            value.flush()
            array = value
        else:
            array = value
            np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        entries[name] = {
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
        }
    manifest = {"kind": kind, "format_version": version, "arrays": entries, **meta}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_manifest(folder: Path, kind: str, version: int) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no {MANIFEST}", where=str(folder), fix="rebuild it with sparsecli") from None
    except ValueError as err:
        raise InputError(
            f"{MANIFEST} is not valid JSON ({err})", where=str(path), fix="rebuild it with sparsecli"
        ) from None
    if manifest.get("kind") != kind:
        raise InputError(
            f"expected a {kind}, found {manifest.get('kind')!r}", where=str(path), fix=f"point at a {kind} folder"
        )
    if manifest.get("format_version") != version:
        raise InputError(
            f"{kind} format version {manifest.get('format_version')} is not supported (this sparsecli reads {version})",
            where=str(path),
            fix="rebuild it with this sparsecli version (runtime.force=true)",
        )
    return manifest


def load_arrays(
    folder: Path, kind: str, version: int, *, mmap: bool = True, verify: bool = False
) -> tuple[dict[str, np.ndarray], dict]:
    manifest = read_manifest(folder, kind, version)
    arrays = {}
    for name, entry in manifest["arrays"].items():
        path = folder / f"{name}.npy"
        where = str(path)
        fix = "the folder is corrupt or was modified; rebuild it (runtime.force=true)"
        if not path.is_file():
            raise InputError("array file is missing", where=where, fix=fix)
        if path.stat().st_size != entry["bytes"]:
            raise InputError(
                f"size {path.stat().st_size} != {entry['bytes']} bytes in the manifest", where=where, fix=fix
            )
        if verify and sha256_file(path) != entry["sha256"]:
            raise InputError("sha256 does not match the manifest", where=where, fix=fix)
        try:
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except ValueError as err:
            raise InputError(f"unreadable .npy ({err})", where=where, fix=fix) from None
        if array.dtype.str != entry["dtype"] or list(array.shape) != entry["shape"]:
            raise InputError(
                f"array is {array.dtype.str}{list(array.shape)}, manifest says {entry['dtype']}{entry['shape']}",
                where=where,
                fix=fix,
            )
        arrays[name] = array
    return arrays, manifest


class StringArray:
    """A list of strings stored as UTF-8 bytes plus offsets: compact and memory-mappable."""

    def __init__(self, offsets: np.ndarray, blob: np.ndarray):
        self.offsets, self.blob = offsets, blob

    @classmethod
    def pack(cls, strings: list[str]) -> "StringArray":
        encoded = [s.encode("utf-8") for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
        return cls(offsets, blob)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return bytes(self.blob[self.offsets[i] : self.offsets[i + 1]]).decode("utf-8")

    def tolist(self) -> list[str]:
        data = bytes(self.blob)
        offsets = self.offsets.tolist()
        return [data[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(len(offsets) - 1)]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_offsets": self.offsets, f"{prefix}_utf8": self.blob}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> "StringArray":
        return cls(arrays[f"{prefix}_offsets"], arrays[f"{prefix}_utf8"])
