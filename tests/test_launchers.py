"""Hydra launchers run our sweeps unchanged: submitit_local (SLURM's plugin, on this
machine) gives the basic launcher's run directories and artifacts, and a rerun is all
cache hits."""

from __future__ import annotations

import json

import pytest

from conftest import TINY

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")

SWEEP = ("encode", "-m", "data=beir", f"data.path={TINY}", "encoder.k1=0.8,0.9,1.0,1.2")


def runs_of(root) -> dict:
    """Each complete run's key -> its artifacts (name, size, sha256)."""
    return {
        done.parent.name: json.loads(done.read_text())["artifacts"] for done in (root / "encode").glob("*/DONE.json")
    }


def test_submitit_local_sweeps_as_the_basic_launcher_does(sparse, tmp_path):
    basic = sparse(*SWEEP, f"runs_root={tmp_path / 'basic'}")
    assert basic.exit_code == 0, basic.stderr
    submitit = sparse(*SWEEP, "hydra/launcher=submitit_local", f"runs_root={tmp_path / 'submitit'}")
    assert submitit.exit_code == 0, submitit.stderr
    expected = runs_of(tmp_path / "basic")
    assert len(expected) == 4 and runs_of(tmp_path / "submitit") == expected  # same keys, same bytes
    again = sparse(*SWEEP, "hydra/launcher=submitit_local", f"runs_root={tmp_path / 'submitit'}")
    assert again.exit_code == 0
    for run in (tmp_path / "submitit" / "encode").glob("*/meta.json"):
        assert [a["status"] for a in json.loads(run.read_text())["attempts"]] == ["complete"]  # cache hits
