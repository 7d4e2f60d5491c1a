"""Run directories: `<runs_root>/<command>/<key>/`, keyed by what determines the results.

The key hashes the fully resolved config (without `runtime`, `runs_root` and `hydra`, which
change how a run executes but not what it produces), the command's output-format version
and the keys of the upstream runs it reads (not their paths), so keys chain like DVC stages.

Completion protocol: every artifact is written to a temporary name and renamed into place,
`meta.json` is rewritten at the end, and `DONE.json` (artifact sizes and sha256) is written
last. Only `DONE.json` makes a directory complete, so an interrupted run never looks done.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sparsecli.errors import UpstreamError
from sparsecli.io.checksum import sha256_file

# Bump when a command's artifacts change meaning, so old cache entries stop matching.
STEP_VERSIONS = {"encode": 1, "index": 2, "search": 1, "eval": 1}
UPSTREAM_FIELDS = ("encode_run", "index_run", "search_run")
NOT_IN_KEY = ("hydra", "runtime", "runs_root")
DONE = "DONE.json"
META = "meta.json"
# Written by Hydra or by us as bookkeeping, never listed as artifacts.
WORK = "work"  # scratch (e.g. encode shards): kept when a run is interrupted, so it can resume
BOOKKEEPING = {DONE, META, ".hydra", "logs", WORK}
KEY_LENGTH = 16


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_done(path: str | os.PathLike) -> dict | None:
    try:
        with open(Path(path) / DONE, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def upstream_key(reference: str) -> str:
    """What an upstream reference contributes to a key: its run key, or a file's content hash.

    An incomplete or missing upstream gets a placeholder; the task itself then stops with a
    clear error before doing any work.
    """
    path = Path(reference)
    done = read_done(path)
    if done is not None and "key" in done:
        return f"{done.get('command', '?')}:{done['key']}"
    if path.is_file():
        return f"file:{sha256_file(path)}"
    return f"missing:{path.resolve()}"


def compute_key(command: str, config: dict) -> str:
    """Key of a run from its resolved config (a plain dict, without NOT_IN_KEY entries)."""
    config = dict(config)
    for name in UPSTREAM_FIELDS:
        value = config.get(name)
        if isinstance(value, str):
            config[name] = upstream_key(value)
        elif isinstance(value, list):
            config[name] = [upstream_key(str(v)) for v in value]
    payload = {"command": command, "version": STEP_VERSIONS.get(command, 0), "config": config}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:KEY_LENGTH]


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RunDir:
    """One run directory: where artifacts go, and the protocol that marks it complete."""

    def __init__(self, path: str | os.PathLike, command: str, key: str):
        self.path = Path(path)
        self.command = command
        self.key = key
        self.timings: dict[str, float] = {}
        self.inputs: dict[str, Any] = {}
        self.upstream: dict[str, Any] = {}
        self.extra_meta: dict[str, Any] = {}
        self.started = False

    # ------------------------------------------------------------------ state

    def done(self) -> dict | None:
        return read_done(self.path)

    def is_complete(self) -> bool:
        """DONE.json exists and every artifact it lists is there with its recorded size."""
        done = self.done()
        if done is None or done.get("key") != self.key:
            return False
        for name, info in done.get("artifacts", {}).items():
            artifact = self.path / name
            if not artifact.is_file() or artifact.stat().st_size != info.get("size"):
                return False
        return True

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------ writing

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """Yield a temporary path (file or folder) that is renamed to `name` on success."""
        final = self.path / name
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        remove_path(tmp)
        try:
            yield tmp
        except BaseException:
            remove_path(tmp)
            raise
        remove_path(final)
        os.replace(tmp, final)

    def write_json(self, name: str, value: Any) -> None:
        with self.writing(name) as tmp:
            tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @contextmanager
    def timer(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = round(self.timings.get(phase, 0.0) + time.perf_counter() - start, 6)

    # ------------------------------------------------------------------ lifecycle

    def is_fresh(self) -> bool:
        """No earlier attempt started here (Hydra may already have written .hydra/ and logs/)."""
        return not (self.path / META).exists()

    def begin(self, meta: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / DONE).unlink(missing_ok=True)
        self._meta = dict(meta, status="running", started_at=_now())
        self._started = time.perf_counter()
        self.started = True
        atomic_write_text(self.path / META, json.dumps(self._meta, indent=2) + "\n")

    def fail(self, reason: str) -> None:
        self._finish_meta("failed", reason=reason)

    def finish(self) -> dict:
        self._finish_meta("complete")
        artifacts = {}
        for artifact in sorted(self._artifact_files()):
            rel = artifact.relative_to(self.path).as_posix()
            artifacts[rel] = {"size": artifact.stat().st_size, "sha256": sha256_file(artifact)}
        done = {
            "command": self.command,
            "key": self.key,
            "finished_at": _now(),
            "inputs": self.inputs,
            "upstream": self.upstream,
            "artifacts": artifacts,
        }
        atomic_write_text(self.path / DONE, json.dumps(done, indent=2, ensure_ascii=False) + "\n")
        return done

    def _finish_meta(self, status: str, **extra: Any) -> None:
        meta = dict(
            getattr(self, "_meta", {}),
            status=status,
            finished_at=_now(),
            duration_s=round(time.perf_counter() - getattr(self, "_started", time.perf_counter()), 3),
            timings_s=self.timings,
            upstream=self.upstream,
            inputs=self.inputs,
            **self.extra_meta,
            **extra,
        )
        atomic_write_text(self.path / META, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")

    def _artifact_files(self) -> Iterator[Path]:
        for entry in self.path.iterdir():
            if entry.name in BOOKKEEPING or ".tmp-" in entry.name:
                continue
            if entry.is_dir():
                yield from (p for p in entry.rglob("*") if p.is_file() and ".tmp-" not in p.name)
            elif entry.is_file():
                yield entry


def open_upstream(reference: str, field: str, command: str) -> tuple[Path, dict]:
    """Check an upstream run reference and return its path and DONE.json."""
    path = Path(reference)
    if not path.is_dir():
        raise UpstreamError(
            f"run directory {reference} does not exist",
            where=field,
            fix=f"pass the directory printed by `sparse {command} ...`",
        )
    done = read_done(path)
    if done is None:
        raise UpstreamError(
            f"{reference} is incomplete (no {DONE}): the run was interrupted or failed",
            where=field,
            fix=f"rerun the `sparse {command} ...` that created it, with runtime.force=true if needed",
        )
    if done.get("command") != command:
        raise UpstreamError(
            f"{reference} is a `{done.get('command')}` run, not a `{command}` run",
            where=field,
            fix=f"pass a directory under runs/{command}/",
        )
    return path, done


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
