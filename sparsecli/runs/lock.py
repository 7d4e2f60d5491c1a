"""One writer per run directory: `<runs_root>/.locks/<command>-<key>.lock`, held with
flock(2) while a command runs in `<runs_root>/<command>/<key>/`.

Two processes given the same config (two sweep jobs of a launcher, a job resubmitted while
the first still runs, two shells) compute the same key; the second waits for the first and
then finds the run complete (a cache hit) or, if the first failed, runs it itself.

The stale-lock rule is the kernel's: a lock is released when its holder's process ends, by
SIGKILL or a node's OOM killer too, so a dead holder never blocks anyone. The lock lives
outside the run directory, which a failed run may remove, and its holder unlinks it while
still holding it; a waiter that then gets the unlinked file sees it is no longer the one at
the path and tries again. The file names its holder (host, pid, since) for the message a
waiting process prints. flock is what SLURM users get on NFSv4 and on Lustre mounted with
`flock`; where it is missing, or runs_root is read-only, the run goes on unlocked with a
warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

log = logging.getLogger("sparsecli")

FOLDER = ".locks"
POLL_S = 0.5  # how often a waiting process tries again (Ctrl-C stays responsive)
UNLOCKED, HELD = -1, -2  # _acquire: no lock can be made here; another process holds it


def path_for(run_dir: Path) -> Path:
    """<runs_root>/.locks/<command>-<key>.lock for <runs_root>/<command>/<key>."""
    return run_dir.parent.parent / FOLDER / f"{run_dir.parent.name}-{run_dir.name}.lock"


@contextmanager
def held(run_dir: Path, poll_s: float = POLL_S) -> Iterator[None]:
    """Hold run_dir's lock for the block, waiting while another process holds it."""
    path = path_for(run_dir)
    fd = _acquire(path, run_dir, poll_s)
    try:
        yield
    finally:
        _release(fd, path)


@contextmanager
def attempt(run_dir: Path) -> Iterator[bool]:
    """Hold run_dir's lock for the block if no other process holds it; yields whether it does
    (True too where locks cannot be taken at all)."""
    path = path_for(run_dir)
    fd = _acquire(path, run_dir, None)
    if fd == HELD:
        yield False
        return
    try:
        yield True
    finally:
        _release(fd, path)


def _acquire(path: Path, run_dir: Path, poll_s: Optional[float]) -> int:
    """The locked file's descriptor, or UNLOCKED; waits while another process holds it,
    polling every poll_s seconds, unless poll_s is None (then HELD)."""
    waited = False
    while True:
        fd = _open(path)
        if fd is None:
            return UNLOCKED
        taken = _take(fd, path)
        if taken:
            break
        if taken is None and poll_s is not None and not waited:  # None: held by another process
            log.info("waiting: %s is running this config (%s)", _holder(fd), run_dir)
            waited = True
        os.close(fd)
        if taken is None:
            if poll_s is None:
                return HELD
            time.sleep(poll_s)
    if waited:
        log.info("the other process is done with %s", run_dir)
    return fd


def _open(path: Path) -> Optional[int]:
    problem: OSError = FileNotFoundError(path)
    for _ in range(100):  # the folder is removed when its last lock goes: make it again
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError as err:
            problem = err
        except OSError as err:  # read-only runs_root, no permission
            problem = err
            break
    log.warning("cannot create %s (%s): concurrent runs of this config are not excluded", path, problem)
    return None


def _take(fd: int, path: Path) -> Optional[bool]:
    """True: locked, and still the file at `path`; False: locked, but the file was unlinked
    meanwhile (unlocked again); None: another process holds it. A file system without flock
    counts as locked (with a warning)."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    except OSError as err:
        log.warning("%s cannot be locked (%s): concurrent runs of this config are not excluded", path, err)
        return True
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}).encode(), 0)
    return True


def _release(fd: int, path: Path) -> None:
    if fd == UNLOCKED:
        return
    try:
        os.unlink(path)  # while still holding it: a waiter holding the old file tries again
        path.parent.rmdir()  # the last lock: leave runs_root as it was
    except OSError:
        pass
    os.close(fd)


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"process {holder['pid']} on {holder['host']}"
    except (OSError, ValueError, KeyError):
        return "another process"
