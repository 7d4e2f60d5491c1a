"""Shared fixtures: the tiny committed collection, ../shared/data, and a `sparse` CLI runner.

The runner invokes the real Typer app (which hands over to @hydra.main), in process, with
stdout and stderr captured separately.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny"
# ../shared/data beside the checkout; SPARSECLI_SHARED_DATA points elsewhere (e.g. a CI clone in /tmp).
_CANDIDATES = [os.environ.get("SPARSECLI_SHARED_DATA"), ROOT.parent / "shared" / "data", "/work/shared/data"]
SHARED_DATA = next((Path(c) for c in _CANDIDATES if c and (Path(c) / "ir").is_dir()), ROOT.parent / "shared" / "data")


class Result(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str

    @property
    def run_dir(self) -> Path:
        return Path(self.stdout.strip().splitlines()[-1])


def full_pipeline(sparse, *encode_args) -> tuple[Path, dict]:
    """encode -> index -> search -> eval; returns the encode run directory and the metrics."""
    import json

    enc = sparse("encode", *encode_args)
    assert enc.exit_code == 0, enc.stderr
    idx = sparse("index", f"encode_run={enc.run_dir}")
    assert idx.exit_code == 0, idx.stderr
    srch = sparse("search", f"index_run={idx.run_dir}")
    assert srch.exit_code == 0, srch.stderr
    ev = sparse("eval", f"search_run={srch.run_dir}")
    assert ev.exit_code == 0, ev.stderr
    return enc.run_dir, json.loads((ev.run_dir / "metrics.json").read_text())


@pytest.fixture
def runs(tmp_path, monkeypatch) -> Path:
    """An empty runs root; also keeps tests from touching a user's data_root."""
    root = tmp_path / "runs"
    monkeypatch.setenv("SPARSECLI_RUNS", str(root))
    monkeypatch.delenv("SPARSECLI_DATA_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)  # so ./conf of the repo is not on the search path
    return root


@pytest.fixture
def sparse(runs):
    from typer.testing import CliRunner

    from sparsecli.cli import app

    runner = CliRunner()

    def invoke(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    return invoke


def error_line(result) -> str:
    """The one line a failure prints: no traceback, nothing after it."""
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == lines[0]
    return lines[0]


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "ir").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tiny_copy(tmp_path) -> Path:
    """A writable copy of the tiny collection, for tests that break it."""
    import shutil

    target = tmp_path / "tiny"
    shutil.copytree(TINY, target)
    return target


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    from tiny_models import build_bert

    return build_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from tiny_models import build_llama

    return build_llama(tmp_path_factory.mktemp("tiny-llama"))
