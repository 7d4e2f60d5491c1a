"""runs/lock.py: two processes given one config write one run; the second waits, then hits
the cache. A holder killed by SIGKILL leaves no stale lock."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import TINY
from test_workers import ENCODE


def slow_shards(tmp_path: Path) -> dict:
    """An environment whose `sparse` sleeps 2 s before writing each shard (a sitecustomize)."""
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent("""
        import time
        from sparsecli.encode.lsr import shards
        write = shards.ShardStore.write
        def slow(self, *args):
            time.sleep(2)
            write(self, *args)
        shards.ShardStore.write = slow
    """)
    )
    return {**os.environ, "PYTHONPATH": str(hook)}


def start(args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sparsecli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def held_lock(runs: Path, timeout: float = 120) -> Path:
    """Wait until a process holds the lock of an encode run under `runs`; that run's directory."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in runs.glob(".locks/encode-*.lock"):
            try:
                handle = open(path, "r+")
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return runs / "encode" / path.stem.split("-", 1)[1]
        time.sleep(0.1)
    raise AssertionError("no process took the lock")


def test_two_processes_with_one_config_write_one_run(tiny_bert, tmp_path):
    args = (*ENCODE, f"encoder.model={tiny_bert}", f"runs_root={tmp_path / 'runs'}")
    first = start(args, slow_shards(tmp_path))
    run_dir = held_lock(tmp_path / "runs")
    second = start(args)
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert out1.splitlines()[-1] == out2.splitlines()[-1] == str(run_dir)
    assert "waiting: process" in err2 and "cache hit" in err2
    meta = json.loads((run_dir / "meta.json").read_text())
    assert [a["status"] for a in meta["attempts"]] == ["complete"]  # one attempt wrote it
    done = json.loads((run_dir / "DONE.json").read_text())
    assert "docs/indices.npy" in json.dumps(done) and not (tmp_path / "runs" / ".locks").exists()  # released


def test_a_holder_killed_by_sigkill_leaves_no_stale_lock(tiny_bert, tmp_path):
    args = (*ENCODE, f"encoder.model={tiny_bert}", f"runs_root={tmp_path / 'runs'}")
    first = start(args, slow_shards(tmp_path))
    run_dir = held_lock(tmp_path / "runs")
    shard = run_dir / "work" / "shards-2" / "000000" / "manifest.json"
    deadline = time.monotonic() + 120
    while not shard.is_file() and time.monotonic() < deadline:  # a shard written, the next one slept on
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    rerun = start(args)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "waiting" not in err  # the kernel released the dead holder's lock
    assert "resuming: 1 of 5 shards were already encoded" in err
    assert out.splitlines()[-1] == str(run_dir)
    attempts = json.loads((run_dir / "meta.json").read_text())["attempts"]
    assert [a["status"] for a in attempts] == ["killed", "complete"]  # the first could not say so itself


def test_a_process_stopped_while_waiting_leaves_the_other_run_alone(sparse, tmp_path):
    from sparsecli.runs import lock

    bm25 = ("encode", "data=beir", f"data.path={TINY}", "runtime.threads=1")
    key = sparse(*bm25, f"runs_root={tmp_path / 'elsewhere'}").run_dir.name  # keys ignore runs_root
    run_dir = tmp_path / "runs" / "encode" / key
    run_dir.mkdir(parents=True)
    (run_dir / "written-by-the-holder").write_text("")  # a run just started: no meta.json yet
    with lock.held(run_dir):
        with open(tmp_path / "err", "w") as err:
            waiting = subprocess.Popen([sys.executable, "-m", "sparsecli", *bm25, f"runs_root={tmp_path / 'runs'}"],
                                       stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
            deadline = time.monotonic() + 120
            while "waiting: process" not in (tmp_path / "err").read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            waiting.send_signal(signal.SIGINT)
            assert waiting.wait(timeout=60) == 130
        assert (run_dir / "written-by-the-holder").is_file()  # not removed as the waiter's own fresh run
    assert not (tmp_path / "runs" / ".locks").exists()
