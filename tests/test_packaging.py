"""`pip install .` gives a working `sparse` outside the repository: configs, the bundled
Cranfield collection and the search-path plugin all travel inside the wheel."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT


def test_wheel_runs_outside_the_repo(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    wheel = next(wheels.glob("sparsecli-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "sparsecli/conf/encode.yaml",
        "sparsecli/conf/data/scifact.yaml",
        "sparsecli/data/bundled/cranfield/corpus.jsonl.gz",
        "hydra_plugins/sparsecli_searchpath/searchpath.py",
    } <= names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target), SPARSECLI_RUNS=str(work / "runs"))
    env.pop("SPARSECLI_DATA_ROOT", None)

    def sparse(*args):
        return subprocess.run(
            [sys.executable, "-m", "sparsecli", *args], cwd=work, env=env, capture_output=True, text=True, check=True
        )

    assert "encode" in sparse("--help").stdout
    result = sparse("encode", "data=cranfield")
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert (run_dir / "DONE.json").is_file() and str(target) in result.stderr  # read from the installed copy
