"""`sparse encode runtime.workers=N`: document shards split over processes (or Ray actors),
the same bytes for any N, and a worker killed mid-encode costs only its unfinished shard."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from conftest import TINY, error_line

# 10 documents in batches of 2, 2 documents a shard: 5 shards, so 3 workers all have work
ENCODE = ("encode", "data=beir", f"data.path={TINY}", "encoder=splade", "encoder.batch_size=2",
          "encoder.shard_size=2", "runtime.threads=1")  # fmt: skip


def digest(run: Path) -> dict:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for side in ("docs", "queries")
        for p in sorted((run / side).iterdir())
    }


def test_any_number_of_workers_writes_the_same_bytes(sparse, tiny_bert, tmp_path):
    runs = {}
    for workers in (1, 2, 3):
        result = sparse(*ENCODE, f"encoder.model={tiny_bert}", f"runtime.workers={workers}",
                        f"runs_root={tmp_path / str(workers)}")  # fmt: skip
        assert result.exit_code == 0, result.stderr
        runs[workers] = digest(result.run_dir)
    assert runs[1] == runs[2] == runs[3]
    assert len(runs[1]) >= 8  # every array and manifest of both sides


def test_a_killed_worker_loses_only_its_shard_and_the_rerun_encodes_only_that(sparse, tiny_bert, tmp_path,
                                                                            monkeypatch):  # fmt: skip
    # Worker 1 (shards 1 and 3) is killed by SIGKILL as it is about to write shard 3: a
    # sitecustomize on the spawned workers' path, so the code under test is unchanged.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent("""
        import multiprocessing, os, signal
        from sparsecli.encode.lsr import shards
        write = shards.ShardStore.write
        def killed_at_3(self, index, positions, rows):
            if index == 3 and multiprocessing.current_process().name == "sparse-encode-1":
                os.kill(os.getpid(), signal.SIGKILL)
            write(self, index, positions, rows)
        shards.ShardStore.write = killed_at_3
    """)
    )
    args = (*ENCODE, f"encoder.model={tiny_bert}", "runtime.workers=2", f"runs_root={tmp_path / 'runs'}")
    monkeypatch.setenv("PYTHONPATH", str(hook))
    failed = sparse(*args)
    assert failed.exit_code != 0
    assert error_line(failed) == (
        "error: runtime.workers: encode worker 1 exited with status -9; 4 of 5 shards are kept; "
        "rerun the same command: only the missing shards are encoded"
    )
    run_dir = next((tmp_path / "runs" / "encode").iterdir())
    assert not (run_dir / "DONE.json").exists()
    assert sorted(p.name for p in (run_dir / "work" / "shards-2").iterdir()) == ["000000", "000001", "000002", "000004"]
    monkeypatch.delenv("PYTHONPATH")
    resumed = sparse(*args)
    assert resumed.exit_code == 0 and resumed.run_dir == run_dir
    assert "resuming: 4 of 5 shards were already encoded" in resumed.stderr  # one shard encoded again
    one = sparse(*ENCODE, f"encoder.model={tiny_bert}", f"runs_root={tmp_path / 'one'}")
    assert digest(resumed.run_dir) == digest(one.run_dir)


def test_workers_must_be_positive(sparse, tiny_bert):
    result = sparse(*ENCODE, f"encoder.model={tiny_bert}", "runtime.workers=0")
    assert result.exit_code != 0 and error_line(result).startswith("error: runtime.workers: must be >= 1")


def test_missing_shards_are_dealt_out_with_no_idle_worker():
    from sparsecli.encode.lsr.workers import deal

    assert deal([0, 1, 2, 3, 4], 2) == [(0, 2, 4), (1, 3)]
    assert deal([1, 3], 50) == [(1,), (3,)]  # two shards missing: two processes, not fifty
    assert deal([], 3) == [()]  # nothing to do: this process alone


def test_the_ray_backend_encodes_the_same_bytes_as_one_process(sparse, tiny_bert, tmp_path):
    pytest.importorskip("ray")  # the `ray` extra: not in CI (large, and slow to start on 2 cores)
    args = (*ENCODE, f"encoder.model={tiny_bert}")
    on_ray = sparse(*args, "runtime.backend=ray", "runtime.workers=2", f"runs_root={tmp_path / 'ray'}")
    assert on_ray.exit_code == 0, on_ray.stderr
    one = sparse(*args, f"runs_root={tmp_path / 'one'}")
    assert digest(on_ray.run_dir) == digest(one.run_dir) and on_ray.run_dir.name == one.run_dir.name
