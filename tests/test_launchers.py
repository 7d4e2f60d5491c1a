"""Hydra launchers run our sweeps unchanged: submitit_local (SLURM's plugin, on this
machine) and Hydra's Ray launcher (a local Ray cluster) give the basic launcher's run
directories and artifacts, and a rerun is all cache hits. The Ray test runs where the
`ray` extra is installed (not in CI: Ray is large and slow to start on 2 cores)."""

from __future__ import annotations

import json

import pytest

from conftest import TINY

SWEEP = ("encode", "-m", "data=beir", f"data.path={TINY}", "encoder.k1=0.8,0.9,1.0,1.2")


def runs_of(root) -> dict:
    """Each complete run's key -> its artifacts (name, size, sha256)."""
    return {
        done.parent.name: json.loads(done.read_text())["artifacts"] for done in (root / "encode").glob("*/DONE.json")
    }


@pytest.mark.parametrize(
    "launcher, plugin",
    [
        (("hydra/launcher=submitit_local",), "hydra_plugins.hydra_submitit_launcher"),
        (("hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"), "hydra_plugins.hydra_ray_launcher"),
    ],
    ids=["submitit_local", "ray"],
)
def test_a_launcher_sweeps_as_the_basic_launcher_does(sparse, tmp_path, launcher, plugin):
    pytest.importorskip(plugin)
    basic = sparse(*SWEEP, f"runs_root={tmp_path / 'basic'}")
    assert basic.exit_code == 0, basic.stderr
    launched = sparse(*SWEEP, *launcher, f"runs_root={tmp_path / 'launched'}")
    assert launched.exit_code == 0, launched.stderr
    expected = runs_of(tmp_path / "basic")
    assert len(expected) == 4 and runs_of(tmp_path / "launched") == expected  # same keys, same bytes
    again = sparse(*SWEEP, *launcher, f"runs_root={tmp_path / 'launched'}")
    assert again.exit_code == 0
    for run in (tmp_path / "launched" / "encode").glob("*/meta.json"):
        assert [a["status"] for a in json.loads(run.read_text())["attempts"]] == ["complete"]  # cache hits
