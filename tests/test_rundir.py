import json

import pytest

from sparsecli.runs.keys import upstream_key
from sparsecli.runs.rundir import RunDir


def test_atomic_artifacts_and_done_json_last(tmp_path):
    run = RunDir(tmp_path / "r", "search", "k1")
    run.begin({"seed": 0})
    with run.writing("run.trec") as tmp:
        tmp.write_text("x\n")
        assert not (run.path / "run.trec").exists()  # invisible until complete
    with pytest.raises(RuntimeError):
        with run.writing("stats.json") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("interrupted")
    assert not any(".tmp-" in p.name for p in run.path.iterdir()) and not (run.path / "stats.json").exists()
    assert not run.is_complete()
    done = run.finish()
    assert done["artifacts"] == {
        "run.trec": {"size": 2, "sha256": "73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac"}
    }
    assert run.is_complete()
    assert json.loads((run.path / "meta.json").read_text())["status"] == "complete"
    (run.path / "run.trec").write_text("changed\n")
    assert not run.is_complete()  # an artifact no longer matches DONE.json


def test_interrupted_run_is_never_complete(tmp_path):
    run = RunDir(tmp_path / "r", "encode", "k")
    run.begin({})
    run.fail("interrupted", "KeyboardInterrupt")
    assert not run.is_complete() and not (run.path / "DONE.json").exists()
    assert json.loads((run.path / "meta.json").read_text())["status"] == "interrupted"


def test_every_attempt_is_recorded_and_a_rerun_that_fails_early_loses_nothing(tmp_path):
    first = RunDir(tmp_path / "r", "search", "k")
    first.begin({"seed": 0})
    with first.timer("search"):
        bytearray(50 << 20)  # 50 MB, freed at once: the phase's peak must show it
    first.write_json("stats.json", {"a": 1})
    first.uses_threads(2)
    first.finish()
    rerun = RunDir(tmp_path / "r", "search", "k")
    rerun.begin({"seed": 0})
    rerun.fail("failed", "InputError: bad")  # before writing any artifact
    assert rerun.is_complete()  # the first attempt's DONE.json still stands
    meta = json.loads((rerun.path / "meta.json").read_text())
    assert [a["status"] for a in meta["attempts"]] == ["complete", "failed"]
    assert meta["attempts"][0]["threads_used"] == 2 and meta["attempts"][1]["reason"] == "InputError: bad"
    assert meta["attempts"][0]["peak_rss_bytes"]["search"] > 50 << 20
    forced = RunDir(tmp_path / "r", "search", "k")
    forced.begin({"seed": 0})
    with forced.writing("stats.json") as tmp:
        tmp.write_text("{}")
    assert not forced.is_complete()  # replacing an artifact ends the old completeness


def test_keys_chain_through_upstream_done_json(tmp_path):
    upstream = RunDir(tmp_path / "enc", "encode", "abc")
    upstream.begin({})
    upstream.finish()
    assert upstream_key(str(upstream.path)) == "encode:abc"
    moved = tmp_path / "moved"
    upstream.path.rename(moved)
    assert upstream_key(str(moved)) == "encode:abc"  # the key follows content, not paths
    assert upstream_key(str(tmp_path / "nowhere")).startswith("missing:")
