"""File checksums for manifests and DONE.json, and cheap fingerprints that notice edited inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def stat_fingerprint(paths: list[Path]) -> dict:
    """{absolute path: [size, mtime_ns]}: changes when a file is edited, without reading it."""
    return {str(p.resolve()): [p.stat().st_size, p.stat().st_mtime_ns] for p in paths}
