"""Checksums: of artifacts for manifests and DONE.json, and of inputs for run keys.

Run keys hold the content of the files a command reads, so that a moved or copied
collection keeps its key. Hashing a multi-GB collection on every command would cost
seconds, so input hashes are cached by (path, device, inode, size, mtime): an unchanged
file is read once. The cache is a JSON file under $SPARSECLI_CACHE (default
~/.cache/sparsecli); without a writable home the hashes are simply recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

CACHE_ENV = "SPARSECLI_CACHE"
SETTLED_S = 2.0  # a file changed this recently may change again within its mtime's resolution
_cache: dict[str, list] | None = None


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _cache_path() -> Path:
    base = os.environ.get(CACHE_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "sparsecli"
    return Path(base).expanduser() / "sha256.json"


def _read_cache() -> dict[str, list]:
    try:
        found = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _save_cache(new: dict[str, list]) -> None:
    """Merge new entries into the cache file; entries other processes wrote meanwhile stay."""
    from sparsecli.io.files import atomic_write_text

    if not new:
        return
    merged = {**_read_cache(), **new}
    try:
        _cache_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_cache_path(), json.dumps(merged, sort_keys=True))
    except OSError:
        pass  # a read-only home: hashes are recomputed next time


def _content(path: Path, new: dict[str, list]) -> str:
    """sha256 of a file, from the cache when its (device, inode, size, mtime) are unchanged;
    a hash computed here goes into `new`."""
    global _cache
    if _cache is None:
        _cache = _read_cache()
    path = path.resolve()
    stat = path.stat()
    stamp = [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns]
    entry = _cache.get(str(path))
    if isinstance(entry, list) and entry[:4] == stamp:
        return entry[4]
    digest = sha256_file(path)
    if time.time() - stat.st_mtime > SETTLED_S:
        _cache[str(path)] = new[str(path)] = [*stamp, digest]
    return digest


def content_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read once per (device, inode, size, mtime)."""
    new: dict[str, list] = {}
    digest = _content(Path(path), new)
    _save_cache(new)
    return digest


def _files(folder: Path) -> list[Path]:
    """Every non-hidden file below `folder`, links to files and folders followed (a folder
    reached twice, through a cycle of links, once)."""
    found, seen = [], set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .cache: not the content
        found += [Path(root) / n for n in names if not n.startswith(".")]
    return sorted(found)


def fingerprint(path: Path) -> str:
    """The content of a file, or of a folder (every non-hidden file's relative path and
    content), as one sha256."""
    path = Path(path)
    if path.is_file():
        return content_sha256(path)
    new: dict[str, list] = {}
    digest = hashlib.sha256()
    for file in _files(path):
        if file.is_file():
            digest.update(f"{file.relative_to(path).as_posix()}\0{_content(file, new)}\n".encode())
    _save_cache(new)
    return digest.hexdigest()
