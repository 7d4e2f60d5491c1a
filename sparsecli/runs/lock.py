"""One writer per run directory: `LOCK`, held with flock(2) while a command runs there.

Two processes given the same config (two sweep jobs of a launcher, a job resubmitted while
the first still runs, two shells) compute the same key; the second waits for the first and
then finds the run complete (a cache hit) or, if the first failed, runs it itself.

The stale-lock rule is the kernel's: a lock is released when its holder's process ends, by
SIGKILL or a node's OOM killer too, so a dead holder never blocks anyone. The file itself
stays (removing it would let two processes lock two different files); it names the holder
(host, pid, since) for the message the waiting process prints. flock is what SLURM users
get on NFSv4 and Lustre mounted with `flock`; on a file system without it the run goes on
unlocked, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger("sparsecli")

LOCK = "LOCK"
POLL_S = 0.5  # how often a waiting process tries again (Ctrl-C stays responsive)


@contextmanager
def held(folder: Path, poll_s: float = POLL_S) -> Iterator[None]:
    """Hold `folder`/LOCK for the block, waiting while another process holds it."""
    import fcntl

    waited = False
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not waited:
                log.info("waiting: %s is running this config (%s)", _holder(fd), folder)
                waited = True
            os.close(fd)
            time.sleep(poll_s)
            continue
        except OSError as err:  # no flock on this file system
            os.close(fd)
            log.warning("%s cannot be locked (%s): concurrent runs of this config are not excluded", folder, err)
            yield
            return
        if _same_file(fd, folder / LOCK):
            break
        os.close(fd)  # the directory was removed (a failed run) while we waited: lock the new one
    if waited:
        log.info("the other process is done with %s", folder)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"process {holder['pid']} on {holder['host']}"
    except (OSError, ValueError, KeyError):
        return "another process"
