"""The run protocol: how every command runs inside its run directory.

`task` is the one Hydra task function; it finds the command by Hydra's job name. Once its
key is known a run holds its lock (lock.py), so a second process with the same config waits
for the first. A run that is complete is a cache hit. Otherwise the attempt is recorded in meta.json, the
command's body writes its artifacts, and DONE.json is written last. Whatever goes wrong,
the user reads one line on stderr and the exit code says what kind of failure it was:

- bad config, input or upstream run (a SparseError): its line; exit 2 or 3;
- Ctrl-C: `interrupted after N of M shards; rerun the same command to resume`; exit 130;
- any other exception: its type and message, and the log file that holds the traceback;
  exit 1.

A directory this attempt created is removed unless it holds resumable work (finished
shards), in which case the line says how to resume. In a `-m` sweep a failed job is
recorded and the sweep goes on; the sweep's exit code is its worst job's. The run directory
is the last line on stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from sparsecli import ui
from sparsecli.commands import Command, get
from sparsecli.errors import SparseError
from sparsecli.runs import lock, world
from sparsecli.runs.rundir import WORK, RunDir

log = logging.getLogger("sparsecli")

INTERRUPTED = 130  # the shell's exit status for SIGINT
TERMINATED = 143  # and for SIGTERM (timeout, SLURM, docker stop)
FAILED = 1


class Terminated(BaseException):
    """SIGTERM, raised where the work is, so that it ends as an interruption does."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated()


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated (from the main thread only, as Python
    delivers signals there); the previous handlers of SIGTERM and SIGINT (which `_shield`
    may have set aside) come back after it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _shield() -> dict:
    """Ignore SIGTERM and Ctrl-C while an attempt's end is recorded and reported: torchrun
    sends SIGTERM to every rank as soon as one fails, and it would otherwise land in the
    middle of the report (a wrong "nothing was kept", a meta.json not updated). The command
    is ending with its own status, so the signal is dropped, not deferred. Returns the
    handlers set aside: a sweep's next job gets them back; otherwise sigterm_interrupts
    restores them when the command ends."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, signal.SIG_IGN) for signum in _SIGNALS}


def to_object(cfg: Any, command: Command) -> Any:
    """The job config as its dataclasses; any fault (a __post_init__ check, a missing value)
    becomes a SparseError of one line."""
    from omegaconf import OmegaConf

    from sparsecli.runs.validate import explain

    try:
        return OmegaConf.to_object(cfg)
    except Exception as err:
        raise explain(err, command) from None


def task(cfg: Any) -> Optional[str]:
    """The Hydra task of every command: run the command named by hydra.job.name."""
    from hydra.core.hydra_config import HydraConfig

    return execute(get(HydraConfig.get().job.name), cfg)


def execute(command: Command, cfg: Any) -> Optional[str]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sparsecli.runs import provenance, sweep
    from sparsecli.runs.keys import run_key

    hydra_cfg = HydraConfig.get()
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    ranks = world.current()
    if not ranks.leader:
        from sparsecli.runs.rundir import Follower

        return _follow(command, cfg, Follower(hydra_cfg.runtime.output_dir, command.name, "", ranks))
    run = RunDir(hydra_cfg.runtime.output_dir, command.name, "", ranks)
    fresh, locked = run.is_fresh(), False
    holding = ExitStack()
    try:
        conf = _prepared(command, cfg, ranks)
        run.key, view = run_key(command, conf)
        run.inputs = view.get("inputs", {})
        holding.enter_context(lock.held(run.path))  # a process running this config finishes first
        locked, fresh = True, run.is_fresh()
        if not run.path.exists():  # removed by the failed run of the process we waited for
            run.path.mkdir(parents=True)
            ui.reopen_attempt_log()
        cached = run.is_complete() and not conf.runtime.force
        if ranks.size > 1:
            world.broadcast([int(cached)])  # the other ranks wait for this decision
        if cached:
            log.info("cache hit: %s is complete (runtime.force=true recomputes it)", run.path)
            if command.threads_change_bytes and ranks.size == 1:
                _other_threads(run, conf.runtime.threads)
        else:
            run.begin(
                provenance.collect(
                    seed=conf.seed,
                    threads=conf.runtime.threads,
                    argv=sys.argv,
                    overrides=list(hydra_cfg.overrides.task),
                    config=view["config"],
                )
            )
            command.body(run, conf)
            _record_config(run.path, cfg, hydra_cfg)  # the config of the attempt that made the artifacts
            run.finish()
    except (KeyboardInterrupt, Terminated) as err:
        _shield()
        fresh = fresh and (locked or holding.enter_context(lock.attempt(run.path)))  # never remove another's run
        signal_name = "SIGTERM" if isinstance(err, Terminated) else "Ctrl-C"
        _give_up(run, fresh, "interrupted", f"interrupted ({signal_name})")
        ui.message(_interrupted_line(run))
        raise SystemExit(TERMINATED if isinstance(err, Terminated) else INTERRUPTED) from None
    except Exception as err:
        set_aside = _shield()
        fresh = fresh and (locked or holding.enter_context(lock.attempt(run.path)))
        code, line = _failure(err, run, fresh)
        ui.error(line)
        if not in_sweep:
            raise SystemExit(code) from None
        sweep.record_job(command, run, list(hydra_cfg.overrides.task), failure=(code, line))
        for signum, handler in set_aside.items():  # the sweep goes on
            signal.signal(signum, handler)
        return None
    finally:
        holding.close()
        world.stop()
    try:
        if in_sweep:
            sweep.record_job(command, run, list(hydra_cfg.overrides.task))
        elif command.show is not None:
            command.show(run)
    except Exception as err:  # noqa: BLE001  (the run is complete and stays; one line, the traceback in a log)
        ui.error(f"{report_crash(err, command.name, list(hydra_cfg.overrides.task))}; {run.path} is complete")
        raise SystemExit(FAILED) from None
    print(run.path, flush=True)
    return str(run.path)


def _other_threads(run: RunDir, threads: int) -> None:
    """Warn when a cache hit's artifacts were computed at another thread count than this call
    would run on."""
    from sparsecli.kernels import thread_count
    from sparsecli.runs.rundir import read_meta

    attempts = [a for a in read_meta(run.path).get("attempts", []) if a.get("status") == "complete"]
    made, here = (attempts[-1].get("threads_used") if attempts else None), thread_count(threads)
    if made is not None and made != here:
        log.warning(
            "these artifacts were computed on %s thread(s), this call would run on %s: the bytes may differ "
            "(runtime.force=true recomputes them here)", made, here
        )  # fmt: skip


def _record_config(path: Path, cfg: Any, hydra_cfg: Any) -> None:
    """Hydra's .hydra/ record (config.yaml, hydra.yaml, overrides.yaml, as Hydra's run_job
    writes them), written here once an attempt has made the artifacts, just before DONE.json."""
    from omegaconf import OmegaConf

    from sparsecli.io.files import atomic_write_text

    folder = path / ".hydra"
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in (
        ("config.yaml", cfg),
        ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})),
        ("overrides.yaml", hydra_cfg.overrides.task),
    ):
        atomic_write_text(folder / name, OmegaConf.to_yaml(value))


def _prepared(command: Command, cfg: Any, ranks: world.World) -> Any:
    """The job config as dataclasses, checked; under torchrun, the process group joined."""
    conf = to_object(cfg, command)
    ui.configure(conf.runtime.progress.value, conf.runtime.progress_interval)
    if conf.runtime.workers > 1 and not command.workers:
        log.info("runtime.workers=%d: %s runs in one process", conf.runtime.workers, command.name)
    if ranks.size > 1:
        from sparsecli.errors import ConfigError

        for wrong, where, fix in (
            (
                conf.runtime.workers > 1,
                "runtime.workers",
                "pass runtime.workers=1 under torchrun (each rank is a worker)",
            ),
            (conf.runtime.backend.value != "processes", "runtime.backend", "drop runtime.backend under torchrun"),
        ):
            if wrong:
                raise ConfigError("torchrun's processes already split the work", where=where, fix=fix)
    if command.check is not None:
        command.check(conf)
    if ranks.size > 1:
        world.start(ranks)
    return conf


def _follow(command: Command, cfg: Any, run: RunDir) -> None:
    """A torchrun rank other than 0: the same config and key as rank 0, whose decision (cache
    hit or not) it waits for; it then runs the body beside rank 0 and writes nothing in the
    run directory. Its log lines go to its own log file; on stderr only warnings and errors,
    so torchrun's output is not every line twice. Interrupted (torchrun stops the ranks when
    one fails) it exits quietly: rank 0 reports."""
    from sparsecli.errors import ConfigError

    for handler in logging.getLogger().handlers:
        if not isinstance(handler, ui.AttemptLog):
            handler.setLevel(logging.WARNING)
    try:
        conf = _prepared(command, cfg, run.world)
        ui.configure("none", conf.runtime.progress_interval)
        (cached,) = world.broadcast([0])
        if not cached:
            command.body(run, conf)
    except (KeyboardInterrupt, Terminated):
        raise SystemExit(INTERRUPTED) from None
    except ConfigError as err:  # the same config on every rank: rank 0 says it
        raise SystemExit(err.exit_code) from None
    except SparseError as err:
        ui.error(f"rank {run.world.rank}: {err.line()}")
        raise SystemExit(err.exit_code) from None
    except Exception as err:  # noqa: BLE001  (one line; the traceback beside the runs: rank 0 may remove the run)
        import traceback

        _shield()
        if world.lost_peer(err):  # rank 0, or another follower, stopped first: its line says why
            ui.error(f"rank {run.world.rank}: another torchrun rank stopped (torchrun's report names it)")
            raise SystemExit(FAILED) from None
        path = _failed_log(run.path.parent.parent, f"{command.name}-rank{run.world.rank}")
        path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
        ui.error(f"rank {run.world.rank}: {_what(err)} (an unexpected error: please report it); "
                 f"the traceback is in {path}")  # fmt: skip
        raise SystemExit(FAILED) from None
    finally:
        world.stop()
    return None


def _failure(err: Exception, run: RunDir, fresh: bool) -> tuple[int, str]:
    """End a failed attempt; the exit code and the line to print."""
    if isinstance(err, SparseError):
        _give_up(run, fresh, "failed", err.line())
        return err.exit_code, err.line()
    what = _what(err)
    lost = run.world.size > 1 and world.lost_peer(err)
    if lost:
        what = "another torchrun rank stopped (torchrun's report names it)"
    log_path = _log_traceback(run, fresh)
    _give_up(run, fresh, "failed", what)
    where = f"; the traceback is in {log_path}" if log_path else ""
    if run.has_work():
        return FAILED, f"{what}{where}; {_kept(run)}; rerun the same command to resume"
    return FAILED, f"{what}{'' if lost else ' (an unexpected error: please report it)'}{where}"


def _what(err: BaseException) -> str:
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def _keeps(run: RunDir, fresh: bool) -> bool:
    """The directory stays: it existed before this attempt, or it holds resumable work."""
    return not fresh or run.has_work()


def _give_up(run: RunDir, fresh: bool, status: str, reason: str) -> None:
    """End a failed attempt: leave nothing half-written behind."""
    if _keeps(run, fresh):
        if run.started:  # this process holds the run: its empty work folder says nothing
            run.fail(status, reason)
            try:
                (run.path / WORK).rmdir()
            except OSError:
                pass
        return
    handler = ui.attempt_log()
    if handler is not None:  # its file goes with the directory: later lines (a sweep's) must not remake it
        logging.getLogger().removeHandler(handler)
        handler.close()
    shutil.rmtree(run.path, ignore_errors=True)
    try:
        run.path.parent.rmdir()  # runs/<command>/, if this run was its only one
    except OSError:
        pass


def _kept(run: RunDir) -> str:
    """What resumable work the run directory keeps: `2 of 5 shards are kept in <dir>`."""
    progress = run.progress
    if progress is None:
        return f"its finished work is kept in {run.path}"
    of = f" of {progress.total}" if progress.total is not None else ""
    return f"{progress.done}{of} {progress.unit} are kept in {run.path}"


def _interrupted_line(run: RunDir) -> str:
    if run.is_complete():  # a forced recompute stopped before replacing any artifact
        return f"interrupted; {run.path} keeps its earlier complete artifacts (runtime.force=true recomputes them)"
    if run.has_work():
        progress = run.progress
        after = ""
        if progress is not None:
            after = f" after {progress.done}" + (f" of {progress.total}" if progress.total is not None else "")
            after += f" {progress.unit}"
        return f"interrupted{after}; rerun the same command to resume (kept in {run.path})"
    if run.path.exists():
        return f"interrupted; {run.path} is incomplete: rerun the same command"
    return "interrupted; nothing was kept"


def _log_traceback(run: RunDir, fresh: bool) -> Path | None:
    """Write the traceback to this attempt's log file only (stderr gets one line), and move
    the file beside the runs when its directory is about to be removed."""
    handler = ui.attempt_log()
    if handler is None:
        return None
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "unexpected error", None, sys.exc_info())
    handler.handle(record)
    handler.close()
    path = Path(handler.baseFilename)
    if _keeps(run, fresh) or not path.is_file():
        return path
    kept = _failed_log(run.path.parent.parent, f"{run.command}-{run.key or 'nokey'}")
    shutil.move(str(path), kept)
    return kept


def _failed_log(runs_root: Path, stem: str) -> Path:
    """A new, uniquely named file for a traceback: <runs_root>/logs/<stem>-<time>-<random>.log,
    or in the temp folder when runs_root cannot hold it (the error may be about runs_root)."""
    import tempfile

    prefix = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-"
    try:
        folder = runs_root / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(suffix=".log", prefix=prefix, dir=folder)
    except OSError:
        handle, name = tempfile.mkstemp(suffix=".log", prefix=f"sparsecli-{prefix}")
    os.close(handle)
    return Path(name)


def report_crash(err: BaseException, command: str, overrides: Sequence[str]) -> str:
    """The line for an unexpected error before any run directory exists; the traceback goes
    to <runs_root>/logs/ (or the temp folder)."""
    import traceback

    from sparsecli.runs.rundir import runs_root

    path = _failed_log(runs_root(overrides), f"{command}-check")
    path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    return f"{_what(err)} (an unexpected error: please report it); the traceback is in {path}"
