"""Run directories: `<runs_root>/<command>/<key>/`, and the protocol that marks them complete.

Every artifact is written under a temporary name and renamed into place; `meta.json`
records each attempt (environment, timings, peak memory, threads, outcome); `DONE.json`
(every artifact's size and sha256) is written last. Only `DONE.json` makes a directory
complete, so an interrupted run never looks done. A forced rerun keeps the previous
`DONE.json` until it replaces its first artifact, so a rerun that fails early loses nothing.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, NamedTuple, Optional, Sequence

from sparsecli.errors import UpstreamError
from sparsecli.io.checksum import sha256_file
from sparsecli.io.files import atomic_path, atomic_write_text

if TYPE_CHECKING:
    from sparsecli.runs.world import World

DONE = "DONE.json"
META = "meta.json"
WORK = "work"  # scratch (e.g. encode shards): kept when a run is interrupted, so it can resume
# Written by Hydra or by us as bookkeeping, never listed as artifacts.
BOOKKEEPING = {DONE, META, ".hydra", "logs", WORK}
RUNS_ENV = "SPARSECLI_RUNS"  # the default runs_root (conf/_common.yaml reads it too)


def runs_root(overrides: Sequence[str] = ()) -> Path:
    """The runs folder of a command line, for what happens before its config composes: the
    last runs_root= override, else $SPARSECLI_RUNS, else ./runs, as conf/_common.yaml."""
    for override in reversed(overrides):
        key, _, value = override.lstrip("+~").partition("=")
        if key == "runs_root" and value:
            return Path(value).expanduser()
    return Path(os.environ.get(RUNS_ENV) or "runs").expanduser()


class Checkpoint(NamedTuple):
    """Resumable progress kept in WORK: `done` of `total` units (total None when unknown)."""

    done: int
    total: Optional[int]
    unit: str


def read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def read_done(path: str | os.PathLike) -> dict | None:
    return read_json(Path(path) / DONE)


def read_meta(path: str | os.PathLike) -> dict:
    return read_json(Path(path) / META) or {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _peak_rss() -> Optional[int]:
    """Peak resident memory (bytes) since the last reset_peak_rss(): VmHWM on Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource  # elsewhere: the process's peak so far, which is only an upper bound
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass


class RunDir:
    """One run directory: where artifacts go, and the record of how they were made."""

    def __init__(self, path: str | os.PathLike, command: str, key: str, world: Optional["World"] = None):
        from sparsecli.runs.world import ALONE

        self.world = world or ALONE  # torchrun's ranks: rank 0 leads and writes the run directory
        self.path = Path(path)
        self.command = command
        self.key = key
        self.timings: dict[str, float] = {}
        self.peak_rss: dict[str, Optional[int]] = {}
        self.inputs: dict[str, Any] = {}
        self.upstream: dict[str, Any] = {}
        self.extra_meta: dict[str, Any] = {}
        self.progress: Optional[Checkpoint] = None
        self.started = False
        self._meta: dict[str, Any] = {}
        self._start_time = 0.0
        self._invalidated = False

    # ------------------------------------------------------------------ state

    @property
    def leader(self) -> bool:
        return self.world.leader

    def done(self) -> dict | None:
        return read_done(self.path)

    def is_complete(self) -> bool:
        """DONE.json exists and every artifact it lists is there with its recorded size."""
        done = self.done()
        return done is not None and done.get("key") == self.key and changed_artifact(self.path, done) is None

    def is_fresh(self) -> bool:
        """No earlier attempt started here (Hydra may already have written logs/)."""
        return not (self.path / META).exists()

    def has_work(self) -> bool:
        """Resumable work is kept in WORK: at least one finished unit (a shard), when the body
        reports its progress; any file otherwise."""
        if self.progress is not None and self.progress.done == 0:
            return False
        work = self.path / WORK
        return work.is_dir() and any(work.iterdir())

    # ------------------------------------------------------------------ what the body uses

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """Yield a temporary path (file or folder) that is renamed to `name` on success."""
        self._invalidate()
        with atomic_path(self.path / name) as tmp:
            yield tmp

    def write_json(self, name: str, value: Any) -> None:
        with self.writing(name) as tmp:
            tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @contextmanager
    def timer(self, phase: str) -> Iterator[None]:
        """Time a phase and record its peak resident memory."""
        _reset_peak_rss()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[phase] = round(self.timings.get(phase, 0.0) + time.perf_counter() - start, 6)
            self.peak_rss[phase] = max(self.peak_rss.get(phase) or 0, _peak_rss() or 0) or None

    def uses_threads(self, count: int) -> int:
        """Record the thread count the work actually runs on (runtime.threads=0 resolved)."""
        self.extra_meta["threads_used"] = count
        return count

    def checkpoint(self, done: int, total: Optional[int], unit: str = "shards") -> None:
        """Record resumable progress kept in WORK, for the message an interruption prints."""
        self.progress = Checkpoint(done, total, unit)

    def upstream_run(self, field: str, reference: str, command: str, also: tuple[str, ...] = ()) -> Path:
        """Open the upstream run named by config field `field` and record its key."""
        path, done = open_upstream(reference, field, command, also=also)
        entry = {"path": str(path.resolve()), "key": done["key"]}
        if field in self.upstream:  # a list field (eval's search_run): one entry per run
            previous = self.upstream[field]
            self.upstream[field] = [*(previous if isinstance(previous, list) else [previous]), entry]
        else:
            self.upstream[field] = entry
        return path

    def chained(self, run_path: Path, field: str, command: str) -> Path:
        """The upstream run that `run_path` itself read, found by key if it was moved."""
        info = (read_done(run_path) or {}).get("upstream", {}).get(field)
        if info is None:
            raise UpstreamError(f"{run_path} records no {field}", where=str(run_path / DONE), fix="recompute it")
        for candidate in (Path(info["path"]), run_path.parent.parent / command / info["key"]):
            upstream_done = read_done(candidate)
            if upstream_done and upstream_done.get("key") == info["key"]:
                return candidate
        raise UpstreamError(
            f"the {command} run {info['key']} that {run_path} was built from is gone",
            where=info["path"],
            fix=f"recompute it with `sparse {command} ...`",
        )

    # ------------------------------------------------------------------ lifecycle

    def begin(self, meta: dict) -> None:
        """Start an attempt; earlier attempts stay listed in meta.json. One still `running`
        ended without a word (SIGKILL, out of memory, a lost node): this process holds the
        run's lock, so none other is running it."""
        self.path.mkdir(parents=True, exist_ok=True)
        earlier = [
            {
                **attempt,
                "status": "killed",
                "reason": "it ended without recording why (SIGKILL, out of memory, a lost node)",
            }
            if attempt.get("status") == "running"
            else attempt
            for attempt in read_meta(self.path).get("attempts", [])
        ]
        self._meta = dict(meta, command=self.command, key=self.key, status="running", started_at=_now())
        self._meta["attempts"] = [*earlier, self._attempt()]
        self._start_time = time.perf_counter()
        self.started = True
        atomic_write_text(self.path / META, json.dumps(self._meta, indent=2) + "\n")

    def _invalidate(self) -> None:
        """Before the first artifact of an attempt replaces an old one, the run stops being complete."""
        if self.started and not self._invalidated:
            self._invalidated = True
            (self.path / DONE).unlink(missing_ok=True)

    def fail(self, status: str, reason: str) -> None:
        """End the attempt as `failed` or `interrupted`."""
        self._finish_meta(status, reason=reason)

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

    def _attempt(self, **extra: Any) -> dict:
        return {
            "started_at": self._meta.get("started_at"),
            "argv": self._meta.get("argv"),
            "status": self._meta.get("status"),
            "threads_used": self.extra_meta.get("threads_used"),
            "timings_s": self.timings,
            "peak_rss_bytes": self.peak_rss,
            **extra,
        }

    def _finish_meta(self, status: str, **extra: Any) -> None:
        duration = round(time.perf_counter() - self._start_time, 3) if self.started else 0.0
        self._meta.update(
            status=status,
            finished_at=_now(),
            duration_s=duration,
            timings_s=self.timings,
            peak_rss_bytes=self.peak_rss,
            upstream=self.upstream,
            inputs=self.inputs,
            **self.extra_meta,
            **extra,
        )
        attempt = self._attempt(finished_at=self._meta["finished_at"], duration_s=duration, **extra)
        self._meta["attempts"] = [*self._meta.get("attempts", [])[:-1], attempt]
        atomic_write_text(self.path / META, json.dumps(self._meta, indent=2, ensure_ascii=False) + "\n")

    def _artifact_files(self) -> Iterator[Path]:
        for entry in self.path.iterdir():
            if entry.name in BOOKKEEPING or ".tmp-" in entry.name:
                continue
            if entry.is_dir():
                yield from (p for p in entry.rglob("*") if p.is_file() and ".tmp-" not in p.name)
            elif entry.is_file():
                yield entry


class Follower(RunDir):
    """A torchrun rank other than 0 (runs/world.py): it reads the leader's run directory (a
    checkpoint to resume from) and writes nothing there; what the body writes goes to a
    scratch folder that is removed."""

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="sparsecli-follower-") as scratch:
            yield Path(scratch) / Path(name).name


def open_upstream(
    reference: str, field: str, command: str, files: bool = False, also: tuple[str, ...] = ()
) -> tuple[Path, dict]:
    """Check an upstream run reference and return its path and DONE.json. `files`: the field
    also takes run files (sparse eval), so a missing path may have meant one; `also`: other
    commands whose runs the field takes."""
    if not str(reference).strip():
        raise UpstreamError(
            "missing: which run to read", where=field, fix=f"pass the directory that `sparse {command} ...` printed"
        )
    path = Path(reference)
    if files and not path.exists():
        raise UpstreamError(
            f"{reference} does not exist",
            where=field,
            fix=f"pass a directory printed by `sparse {command} ...`, or a run file (TREC or MS MARCO)",
        )
    if not path.is_dir():
        raise UpstreamError(
            f"{reference} is a file, not a run directory"
            if path.is_file()
            else f"run directory {reference} does not exist",
            where=field,
            fix=f"pass the directory printed by `sparse {command} ...`",
        )
    made_by = read_meta(path).get("command", path.parent.name)  # runs/<command>/<key>
    done = finished_run(reference, field, made_by if made_by in (command, *also) else command)
    if done.get("command") not in (command, *also):
        kinds = " or ".join(f"`{c}`" for c in (command, *also))
        raise UpstreamError(
            f"{reference} is a `{done.get('command')}` run, not a {kinds} run",
            where=field,
            fix=f"pass a directory under {' or '.join(f'runs/{c}/' for c in (command, *also))}",
        )
    return path, done


def finished_run(reference: str, field: str, made_by: str | None = None) -> dict:
    """DONE.json of run directory `reference`, which must be finished and unchanged since.
    Raises UpstreamError naming `field` and the `sparse <made_by>` command that fixes it
    (by default the one its meta.json records)."""
    path = Path(reference)
    made_by = made_by or read_meta(path).get("command", path.parent.name)  # runs/<command>/<key>
    done = read_done(path)
    if done is None:
        raise UpstreamError(
            f"{reference} is incomplete (no {DONE}): the run was interrupted or failed",
            where=field,
            fix=f"rerun the `sparse {made_by} ...` that created it (it resumes), then pass it again",
        )
    changed = changed_artifact(path, done)
    if changed is not None:
        raise UpstreamError(
            f"{reference} changed after it finished ({changed} is missing or has another size)",
            where=field,
            fix=f"recompute it: rerun its `sparse {done.get('command', made_by)} ...` with runtime.force=true",
        )
    return done


def check_if_run(reference: str, field: str) -> None:
    """A folder given as a checkpoint (prune's checkpoint=, train-rec's init=) that is a run
    directory must be a finished, unchanged one: an interrupted run's folder holds no weights
    yet, and a finished one edited since would be keyed by what it was."""
    if (Path(reference) / META).is_file():  # else a hub id or a plain checkpoint folder
        finished_run(reference, field)


def changed_artifact(path: Path, done: dict) -> str | None:
    """The first artifact DONE.json lists that is missing or has another size, if any. Sizes,
    not hashes: checking them costs nothing, and they catch truncation and replacement."""
    for name, info in done.get("artifacts", {}).items():
        artifact = path / name
        if not artifact.is_file() or artifact.stat().st_size != info.get("size"):
            return name
    return None
