"""`torchrun ... -m sparsecli <command>`: rank 0 writes the run directory, the other ranks
follow; train-rec trains data-parallel (gloo) and resumes after a rank is killed; encode
splits its document shards over the ranks, with the same bytes as one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import TINY
from test_rec import SMALL, rule_data
from test_workers import ENCODE, digest

TRAIN = ("train-rec", "data=atomic", "data.file=rule.inter", *SMALL, "trainer.batch_size=16", "trainer.max_epochs=5",
         "model.dropout=0.1")  # fmt: skip


def torchrun(*args: str, nproc: int = 2, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "sparsecli", *args]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)


def run_dir(result: subprocess.CompletedProcess) -> Path:
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(result.stdout.strip().splitlines()[-1])


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def rank_1_killer(tmp_path: Path, patch: str) -> dict[str, str]:
    """The env for a torchrun whose rank 1 applies `patch` as it starts (a sitecustomize on
    the ranks' path, the code under test unchanged); `os` and `signal` are imported for it."""
    hook = tmp_path / "hook"
    hook.mkdir()
    armed = 'import os, signal\nif os.environ.get("RANK") == "1" and os.environ.get("KILL_RANK_1"):\n'
    (hook / "sitecustomize.py").write_text(armed + textwrap.indent(textwrap.dedent(patch).strip() + "\n", "    "))
    return {"PYTHONPATH": str(hook), "KILL_RANK_1": "1"}


def test_two_ranks_train_one_run_that_rank_0_writes(sparse, tmp_path):
    data = rule_data(tmp_path / "rule")
    args = (*TRAIN, f"data.path={data}", f"runs_root={tmp_path / 'runs'}")
    first = torchrun(*args)
    run = run_dir(first)
    assert first.stdout.strip() == str(run)  # rank 1 prints nothing
    training = metrics(run)["training"]
    assert training["processes"] == 2 and training["effective_batch_size"] == 32
    assert len(list((run / "logs").iterdir())) == 2  # a log file each
    again = torchrun(*args)
    assert run_dir(again) == run and "cache hit" in again.stderr
    alone = sparse(*args)  # one process: another effective batch, so another run
    assert alone.exit_code == 0 and alone.run_dir != run
    assert "processes" not in metrics(alone.run_dir)["training"]


def test_a_killed_rank_costs_its_epoch_and_the_rerun_ends_with_the_same_bytes(tmp_path):
    # Rank 1 is killed by SIGKILL in epoch 3 (its 5th of 10 steps), after rank 0 saved the
    # checkpoint of epoch 2: a sitecustomize on the ranks' path, the code under test unchanged.
    kill = rank_1_killer(
        tmp_path,
        """
        from sparsecli.recommend import train
        average, calls = train.average_gradients, [0]
        def killed_in_epoch_3(*args):
            calls[0] += 1
            if calls[0] == 5:
                os.kill(os.getpid(), signal.SIGKILL)
            average(*args)
        train.average_gradients = killed_in_epoch_3
        """,
    )
    data = rule_data(tmp_path / "rule")
    args = (*TRAIN, f"data.path={data}", f"runs_root={tmp_path / 'runs'}")
    failed = torchrun(*args, env=kill)
    assert failed.returncode != 0
    assert "rerun the same command to resume" in failed.stderr, failed.stderr[-3000:]
    (run,) = (tmp_path / "runs" / "train-rec").iterdir()
    assert not (run / "DONE.json").exists()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] in ("interrupted", "failed")
    resumed = torchrun(*args, env={"PYTHONPATH": kill["PYTHONPATH"]})
    assert run_dir(resumed) == run
    assert "resuming from the checkpoint after epoch 2" in resumed.stderr
    whole = run_dir(torchrun(*TRAIN, f"data.path={data}", f"runs_root={tmp_path / 'whole'}"))
    for name in ("metrics.json", "model.safetensors", "test/run.trec.gz"):
        assert (run / name).read_bytes() == (whole / name).read_bytes(), name


def test_two_ranks_encode_the_same_bytes_as_one_process(sparse, tiny_bert, tmp_path):
    args = (*ENCODE, f"encoder.model={tiny_bert}")
    ranks = run_dir(torchrun(*args, f"runs_root={tmp_path / 'two'}"))
    one = sparse(*args, f"runs_root={tmp_path / 'one'}")
    assert one.exit_code == 0
    assert digest(ranks) == digest(one.run_dir)
    assert ranks.name == one.run_dir.name  # the same key: the bytes do not depend on the rank count


def test_commands_that_run_in_one_process_refuse_torchrun(sparse, tmp_path):
    encoded = sparse("encode", "data=beir", f"data.path={TINY}", f"runs_root={tmp_path}")
    result = torchrun("index", f"encode_run={encoded.run_dir}", f"runs_root={tmp_path}")
    assert result.returncode != 0
    assert "torchrun: sparse index runs in one process, and torchrun started 2; run sparse index without torchrun" in (
        result.stderr
    )


def test_a_killed_encode_rank_costs_its_shard_and_the_rerun_encodes_only_what_is_missing(sparse, tiny_bert, tmp_path):
    # Rank 1 (shards 1 and 3) is killed by SIGKILL as it is about to write shard 3.
    kill = rank_1_killer(
        tmp_path,
        """
        from sparsecli.encode.lsr import shards
        write = shards.ShardStore.write
        def killed_at_3(self, index, positions, rows):
            if index == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            write(self, index, positions, rows)
        shards.ShardStore.write = killed_at_3
        """,
    )
    args = (*ENCODE, f"encoder.model={tiny_bert}", f"runs_root={tmp_path / 'runs'}")
    failed = torchrun(*args, env=kill)
    assert failed.returncode != 0
    assert "rerun the same command to resume" in failed.stderr, failed.stderr[-3000:]
    (run,) = (tmp_path / "runs" / "encode").iterdir()
    assert not (run / "DONE.json").exists()
    kept = sorted(p.name for p in (run / "work" / "shards-2").iterdir())
    assert "000003" not in kept and "000001" in kept
    resumed = torchrun(*args)
    assert run_dir(resumed) == run
    assert f"resuming: {len(kept)} of 5 shards were already encoded" in resumed.stderr
    one = sparse(*ENCODE, f"encoder.model={tiny_bert}", f"runs_root={tmp_path / 'one'}")
    assert digest(run) == digest(one.run_dir)
