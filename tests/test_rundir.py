import json

import pytest

from sparsecli.rundir import RunDir, compute_key, upstream_key


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
    run.fail("KeyboardInterrupt")
    assert not run.is_complete() and not (run.path / "DONE.json").exists()
    assert json.loads((run.path / "meta.json").read_text())["status"] == "failed"


def test_keys_chain_through_upstream_done_json(tmp_path):
    upstream = RunDir(tmp_path / "enc", "encode", "abc")
    upstream.begin({})
    upstream.finish()
    assert upstream_key(str(upstream.path)) == "encode:abc"
    key = compute_key("index", {"encode_run": str(upstream.path)})
    moved = tmp_path / "moved"
    upstream.path.rename(moved)
    assert compute_key("index", {"encode_run": str(moved)}) == key  # the key follows content, not paths
    assert upstream_key(str(tmp_path / "nowhere")).startswith("missing:")
