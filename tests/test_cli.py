"""The `sparse` CLI end to end on the tiny committed collection."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY

EXPECTED_RUN = """\
q1 Q0 d1 1 2.72058153 sparsecli
q1 Q0 d4 2 1.38903427 sparsecli
q1 Q0 d2 3 0.471528709 sparsecli
q1 Q0 d3 4 0.357292354 sparsecli
q1 Q0 d10 5 0.357292354 sparsecli
q2 Q0 d3 1 2.71078944 sparsecli
q3 Q0 d5 1 3.27438116 sparsecli
q3 Q0 d10 2 1.00789428 sparsecli
"""


def pipeline(sparse, *encode_args, data=TINY):
    enc = sparse("encode", "data=beir", f"data.path={data}", *encode_args)
    assert enc.exit_code == 0, enc.stderr
    idx = sparse("index", f"encode_run={enc.run_dir}")
    assert idx.exit_code == 0, idx.stderr
    srch = sparse("search", f"index_run={idx.run_dir}")
    assert srch.exit_code == 0, srch.stderr
    return enc.run_dir, idx.run_dir, srch.run_dir


def single_error_line(result) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_pipeline_on_tiny(sparse, runs):
    enc, idx, srch = pipeline(sparse)
    assert enc.parent == runs / "encode" and idx.parent == runs / "index" and srch.parent == runs / "search"
    assert (srch / "run.trec").read_text() == EXPECTED_RUN
    ev = sparse("eval", f"search_run={srch}")
    assert ev.exit_code == 0
    assert ev.stdout.strip().splitlines()[-1] == str(ev.run_dir) and ev.run_dir.parent == runs / "eval"
    assert "3 queries evaluated" in ev.stdout
    metrics = json.loads((ev.run_dir / "metrics.json").read_text())
    assert metrics == pytest.approx(
        {"nDCG@10": 0.9200625111439562, "RR@10": 1.0, "R@100": 5 / 6, "R@1000": 5 / 6}, abs=1e-12
    )
    per_query = (ev.run_dir / "per_query.tsv").read_text().splitlines()
    assert per_query[0] == "run\tquery_id\tnDCG@10\tRR@10\tR@100\tR@1000" and len(per_query) == 4

    done = json.loads((srch / "DONE.json").read_text())
    assert done["command"] == "search" and done["key"] == srch.name
    assert set(done["artifacts"]) == {"run.trec", "stats.json"}
    assert done["upstream"]["index_run"]["key"] == idx.name
    meta = json.loads((srch / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["seed"] == 0 and "search" in meta["timings_s"]
    assert {"sparsecli", "python", "numpy", "numba"} <= set(meta["versions"]) and meta["cpu_count"] >= 1
    encode_done = json.loads((enc / "DONE.json").read_text())
    assert {"docs/indptr.npy", "queries/data.npy", "vocab.json", "qrels.txt", "manifest.json"} <= set(
        encode_done["artifacts"]
    )
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["docs"]["rows"] == 10 and manifest["queries"]["rows"] == 3 and manifest["vocab_size"] == 48


def test_same_config_is_a_cache_hit_and_force_is_byte_identical(sparse):
    enc, idx, srch = pipeline(sparse)
    done_before = (srch / "DONE.json").read_bytes()
    again = sparse("search", f"index_run={idx}")
    assert again.run_dir == srch and "cache hit" in again.stderr
    assert (srch / "DONE.json").read_bytes() == done_before
    artifacts = {d: json.loads((d / "DONE.json").read_text())["artifacts"] for d in (enc, idx, srch)}
    for run_dir, command, upstream in (
        (enc, "encode", f"data.path={TINY}"),
        (idx, "index", f"encode_run={enc}"),
        (srch, "search", f"index_run={idx}"),
    ):
        args = ["data=beir", upstream] if command == "encode" else [upstream]
        forced = sparse(command, *args, "runtime.force=true")
        assert forced.exit_code == 0 and forced.run_dir == run_dir and "cache hit" not in forced.stderr
        assert json.loads((run_dir / "DONE.json").read_text())["artifacts"] == artifacts[run_dir]
    assert (srch / "run.trec").read_text() == EXPECTED_RUN


def test_changed_config_changes_the_directory_and_the_chain(sparse):
    enc, idx, srch = pipeline(sparse)
    enc2, idx2, srch2 = pipeline(sparse, "encoder.k1=1.2")
    assert len({enc, enc2}) == len({idx, idx2}) == len({srch, srch2}) == 2


def test_gzipped_run_jsonl_export_and_options(sparse):
    enc = sparse("encode", "data=beir", f"data.path={TINY}", "export.jsonl=true", "export.quantize=100")
    lines = (enc.run_dir / "export" / "docs.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert (
        first["id"] == "d1" and all(isinstance(w, int) for w in first["vector"].values()) and "spars" in first["vector"]
    )
    assert len((enc.run_dir / "export" / "queries.jsonl").read_text().splitlines()) == 3
    idx = sparse("index", f"encode_run={enc.run_dir}")
    srch = sparse("search", f"index_run={idx.run_dir}", "search.gzip=true", "search.k=1", "search.tag=bm25")
    import gzip

    assert gzip.decompress((srch.run_dir / "run.trec.gz").read_bytes()).decode().splitlines() == [
        "q1 Q0 d1 1 2.72058153 bm25",
        "q2 Q0 d3 1 2.71078944 bm25",
        "q3 Q0 d5 1 3.27438116 bm25",
    ]
    ev = sparse("eval", f"search_run={srch.run_dir}", "eval=beir")
    assert set(json.loads((ev.run_dir / "metrics.json").read_text())) == {"nDCG@10", "R@100", "R@1000"}


def test_compare_runs_with_significance(sparse):
    _, _, srch = pipeline(sparse)
    _, _, srch2 = pipeline(sparse, "encoder.k1=2.0", "encoder.b=1.0")
    ev = sparse("eval", f"search_run=[{srch},{srch2}]", "eval.significance=randomization", "eval.permutations=500")
    assert ev.exit_code == 0
    report = json.loads((ev.run_dir / "report.json").read_text())
    assert [r["name"] for r in report["runs"]] == [f"search/{srch.name}", f"search/{srch2.name}"]
    assert set(report["runs"][1]["p_values"]) == {"nDCG@10", "RR@10", "R@100", "R@1000"}
    assert "p-values vs the first run" in ev.stdout


def test_queries_absent_from_qrels_are_reported_not_fatal(sparse, tmp_path):
    _, _, srch = pipeline(sparse)
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\n")
    ev = sparse("eval", f"search_run={srch}", f"eval.qrels={qrels}")
    assert ev.exit_code == 0 and "2 queries are not in the qrels" in ev.stderr
    report = json.loads((ev.run_dir / "report.json").read_text())
    assert report["runs"][0]["num_queries"] == 1 and report["runs"][0]["unjudged_queries"] == 2


def test_eval_of_a_plain_trec_file(sparse, tmp_path):
    import gzip

    run = tmp_path / "other.run"
    run.write_text("q1 Q0 d1 1 2 x\nq2 Q0 d9 1 1 x\n")
    trec_qrels = tmp_path / "qrels.trec"
    trec_qrels.write_text("q1 0 d1 1\nq2 0 d3 1\n")
    ev = sparse("eval", f"search_run={run}", f"eval.qrels={trec_qrels}", "eval.measures=[RR@10]")
    assert json.loads((ev.run_dir / "metrics.json").read_text()) == {"RR@10": 0.5}
    # BEIR's TSV qrels (told apart by content) and a gzipped MS MARCO run (qid docid rank) say the same.
    msmarco = tmp_path / "other.tsv.gz"
    with gzip.open(msmarco, "wt") as out:
        out.write("q1\td7\t2\nq1\td1\t1\nq2\td9\t1\n")
    ev = sparse("eval", f"search_run={msmarco}", f"eval.qrels={TINY / 'qrels' / 'test.tsv'}", "eval.measures=[RR@10]")
    assert ev.exit_code == 0, ev.stderr
    assert json.loads((ev.run_dir / "metrics.json").read_text()) == {"RR@10": 1 / 3}
    mixed = tmp_path / "mixed.run"
    mixed.write_text("q1 d1 1\nq1 Q0 d2 2 1.0 x\n")
    ev = sparse("eval", f"search_run={mixed}", f"eval.qrels={trec_qrels}")
    assert single_error_line(ev) == (
        f"error: {mixed}:2: expected 3 fields (qid docid rank, as the first line), found 6; use TREC run format "
        "(or MS MARCO's three columns throughout)"
    )


def test_drop_self_for_queries_that_are_documents(sparse, tmp_path):
    (tmp_path / "corpus.jsonl").write_text(
        '{"_id": "a", "text": "red apple"}\n{"_id": "b", "text": "red apple pie"}\n{"_id": "c", "text": "green"}\n'
    )
    (tmp_path / "queries.jsonl").write_text('{"_id": "a", "text": "red apple"}\n')
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\na\tb\t1\n")
    enc = sparse("encode", "data=beir", f"data.path={tmp_path}", "data.drop_self=true")
    idx = sparse("index", f"encode_run={enc.run_dir}")
    dropped = sparse("search", f"index_run={idx.run_dir}")
    assert [line.split()[2] for line in (dropped.run_dir / "run.trec").read_text().splitlines()] == ["b"]
    kept = sparse("search", f"index_run={idx.run_dir}", "search.drop_self=false")
    assert [line.split()[2] for line in (kept.run_dir / "run.trec").read_text().splitlines()] == ["a", "b"]


# --------------------------------------------------------------------------- bad input


def assert_nothing_left(runs: Path, command: str) -> None:
    folder = runs / command
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())


@pytest.mark.parametrize(
    "file, line, message",
    [
        ("queries.jsonl", "{not json}", "queries.jsonl:5: malformed JSON"),
        ("corpus.jsonl", '{"_id": "d1", "text": "again"}', 'corpus.jsonl:11: duplicate document id "d1"'),
        ("corpus.jsonl", '{"_id": "e", "title": "", "text": "  "}', 'corpus.jsonl:11: document "e" is empty'),
    ],
)
def test_bad_records_name_file_and_line(sparse, runs, tiny_copy, file, line, message):
    with open(tiny_copy / file, "a") as out:
        out.write(line + "\n")
    result = sparse("encode", "data=beir", f"data.path={tiny_copy}")
    assert result.exit_code == 3
    assert f"{tiny_copy}/{message}" in single_error_line(result)
    assert_nothing_left(runs, "encode")


def test_missing_qrels_file(sparse, runs, tiny_copy):
    (tiny_copy / "qrels" / "test.tsv").unlink()
    result = sparse("encode", "data=beir", f"data.path={tiny_copy}")
    assert result.exit_code == 3
    line = single_error_line(result)
    assert "qrels/test.tsv: qrels file not found" in line and "data.split" in line
    assert_nothing_left(runs, "encode")


def test_empty_documents_can_be_skipped(sparse, tiny_copy):
    with open(tiny_copy / "corpus.jsonl", "a") as out:
        out.write('{"_id": "e", "title": "", "text": "  "}\n')
    skipped = sparse("encode", "data=beir", f"data.path={tiny_copy}", "data.on_empty=skip")
    assert skipped.exit_code == 0
    assert json.loads((skipped.run_dir / "manifest.json").read_text())["collection"]["empty_docs"] == 1


def test_upstream_without_done_json(sparse, runs, tmp_path):
    enc, _, _ = pipeline(sparse)
    (enc / "DONE.json").unlink()
    result = sparse("index", f"encode_run={enc}", "runtime.force=true")
    assert result.exit_code == 3
    line = single_error_line(result)
    assert f"encode_run: {enc} is incomplete (no DONE.json)" in line
    wrong_kind = sparse("search", f"index_run={tmp_path}")
    assert wrong_kind.exit_code == 3 and "incomplete" in single_error_line(wrong_kind)


def test_unknown_config_group_value(sparse, runs):
    result = sparse("encode", "data=nope")
    assert result.exit_code == 2
    assert "unknown option data=nope; choose one of:" in single_error_line(result)
    assert not runs.exists()
    sweep = sparse("search", "-m", "index_run=x", "search=exact,fast")
    assert sweep.exit_code == 2 and "search=fast" in single_error_line(sweep)


# --------------------------------------------------------------------------- Hydra features


def test_multirun_sweep(sparse, runs):
    _, idx, _ = pipeline(sparse)
    result = sparse("search", "-m", f"index_run={idx}", "search.k=1,2")
    assert result.exit_code == 0
    dirs = [Path(line) for line in result.stdout.split() if line.startswith(str(runs))]
    assert len(dirs) == 2 and all((d / "DONE.json").exists() for d in dirs)
    lengths = sorted(len((d / "run.trec").read_text().splitlines()) for d in dirs)
    assert lengths == [3, 5]


def test_cfg_job_and_help(sparse, runs):
    cfg = sparse("encode", "data=scifact", "encoder.k1=1.1", "--cfg", "job")
    assert cfg.exit_code == 0 and "k1: 1.1" in cfg.stdout and "irds_id: beir/scifact/test" in cfg.stdout
    assert not runs.exists()
    helped = sparse("encode", "--help")
    assert helped.exit_code == 0
    assert "data: arguana, beir, cranfield" in helped.stdout and "encoder: bm25" in helped.stdout


def test_installed_entry_point_keeps_stdout_clean(tmp_path):
    """A real shell pipeline: only the run directory reaches stdout; logs go to stderr."""
    sparse = Path(sys.executable).parent / "sparse"
    env = dict(os.environ, SPARSECLI_RUNS=str(tmp_path / "runs"))
    env.pop("SPARSECLI_DATA_ROOT", None)
    top = subprocess.run([str(sparse), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert all(name in top.stdout for name in ("encode", "train-rec", "prune"))
    enc = subprocess.run(
        [str(sparse), "encode", "data=beir", f"data.path={TINY}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert enc.stdout.splitlines() == [str(tmp_path / "runs" / "encode" / Path(enc.stdout.strip()).name)]
    assert "INFO" in enc.stderr


def test_judgments_of_documents_not_in_the_corpus_are_one_warning(sparse, tiny_copy):
    with open(tiny_copy / "qrels" / "test.tsv", "a") as out:
        out.write("q1\tgone\t1\nq2\tmissing\t2\n")
    result = sparse("encode", "data=beir", f"data.path={tiny_copy}")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not in the corpus" in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        "2 of 6 judgments name documents that are not in the corpus (they count as relevant but can never be "
        "retrieved), e.g. q1/gone, q2/missing"
    )
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["collection"]["judged_docs_absent"] == 2


def test_eval_warns_when_a_cutoff_is_deeper_than_the_run(sparse):
    enc = sparse("encode", "data=beir", f"data.path={TINY}")
    idx = sparse("index", f"encode_run={enc.run_dir}")
    shallow = sparse("search", f"index_run={idx.run_dir}", "search.k=3")
    ev = sparse("eval", f"search_run={shallow.run_dir}")
    assert ev.exit_code == 0
    key = json.loads((shallow.run_dir / "DONE.json").read_text())["key"]
    warnings = [line for line in ev.stderr.splitlines() if "fewer than the cutoff" in line]
    assert len(warnings) == 1 and warnings[0].endswith(
        f"search/{key} is cut at 3 results a query, fewer than the cutoff of nDCG@10, RR@10, R@100, R@1000: those "
        "measures count the missing ranks as not relevant (search with a larger search.k, train-rec with a larger "
        "rank.top, or drop them: eval.measures=[...])"
    )
    assert "fewer than the cutoff" not in sparse("eval", f"search_run={shallow.run_dir}", "eval.measures=[RR@3]").stderr
    # A run cut at k=1000 over a collection with fewer matches is not shallow: no warning.
    deep = sparse("search", f"index_run={idx.run_dir}")
    assert "fewer than the cutoff" not in sparse("eval", f"search_run={deep.run_dir}").stderr


def test_eval_refuses_qrels_without_judgments_or_with_a_pair_twice(sparse, runs, tmp_path):
    run = tmp_path / "a.run"
    run.write_text("q1 Q0 d1 1 2 x\n")
    header_only = tmp_path / "qrels.tsv"
    header_only.write_text("query-id\tcorpus-id\tscore\n")
    empty = sparse("eval", f"search_run={run}", f"eval.qrels={header_only}")
    assert empty.exit_code == 3 and single_error_line(empty) == (
        f"error: {header_only}: the qrels hold no judgments; pass a qrels file with judgments (eval.qrels=...)"
    )
    twice = tmp_path / "qrels.trec"
    twice.write_text("q1 0 d1 1\nq1 0 d1 2\n")
    result = sparse("eval", f"search_run={run}", f"eval.qrels={twice}")
    assert result.exit_code == 3 and single_error_line(result) == (
        f"error: {twice}:2: query q1 judges document d1 twice: grade 1 at {twice}:1 and grade 2 here; remove one "
        "judgment (trec_eval refuses qrels that judge a pair twice)"
    )
    missing = sparse("eval", f"search_run={tmp_path / 'nope.trec'}", f"eval.qrels={twice}")
    assert missing.exit_code == 3 and single_error_line(missing) == (
        f"error: search_run: {tmp_path / 'nope.trec'} does not exist; pass a directory printed by `sparse search "
        "...`, or a run file (TREC or MS MARCO)"
    )
    assert_nothing_left(runs, "eval")


def test_queries_without_terms_and_terms_without_weight_are_one_warning_each(sparse, tiny_copy):
    with open(tiny_copy / "queries.jsonl", "a") as out:
        out.write('{"_id": "q9", "text": "the and of"}\n')
    with open(tiny_copy / "qrels" / "test.tsv", "a") as out:
        out.write("q9\td1\t1\n")
    result = sparse("encode", "data=beir", f"data.path={tiny_copy}", "encoder.variant=robertson")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(" WARNING ")[1] for line in lines if "no terms after encoding" in line] == [
        "1 of 4 queries have no terms after encoding, so they retrieve nothing: e.g. q9"
    ]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    dropped = manifest["encoder_stats"]["terms_without_weight"]
    assert dropped > 0 and [line.split(" WARNING ")[1] for line in lines if "get no weight" in line] == [
        f"{dropped} terms get no weight (IDF <= 0 under encoder.variant=robertson), so queries cannot retrieve by them"
    ]
    assert manifest["collection"]["queries_without_terms"] == 1


def test_an_option_known_by_another_name_points_to_ours(sparse, runs):
    line = single_error_line(sparse("train-rec", "sparsity=gmp"))
    assert "did you mean sparsity=gradual (what gmp is called here)?" in line  # not imp, the closest spelling
