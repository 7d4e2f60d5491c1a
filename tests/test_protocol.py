"""The run protocol, rule by rule, through the real CLI: each failure is one stderr line with
a known exit code and leaves nothing half-written; keys, meta.json and sweeps behave as the
README says. Each test names the rule it checks."""

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import TINY, error_line

TINY_ENCODE = ("encode", "data=beir", f"data.path={TINY}")


def nothing_in(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# --------------------------------------------------------------------------- 1. a required field


@pytest.mark.parametrize(
    "command, line",
    [
        ("index", "error: encode_run: missing: which run to read; pass the directory that `sparse encode ...` "
                  "printed, e.g. encode_run=runs/encode/<key>"),
        ("search", "error: index_run: missing: which run to read; pass the directory that `sparse index ...` "
                   "printed, e.g. index_run=runs/index/<key>"),
        ("eval", "error: search_run: missing: which run to read; pass the directory that `sparse search ...` "
                 "printed, e.g. search_run=runs/search/<key>"),
    ],
)  # fmt: skip
def test_a_missing_run_reference_is_one_line_with_an_example(sparse, runs, command, line):
    result = sparse(command)
    assert result.exit_code == 2 and error_line(result) == line
    assert not runs.exists()


def test_the_example_is_the_newest_finished_run(sparse, runs):
    encoded = sparse(*TINY_ENCODE)
    assert error_line(sparse("index")).endswith(f"e.g. encode_run={encoded.run_dir}")


def test_a_missing_group_names_the_group_and_its_options(sparse, runs):
    result = sparse("encode")
    assert result.exit_code == 2
    assert error_line(result).startswith(
        "error: data: missing: choose an option of the data group; pass e.g. data=arguana (options: arguana, beir,"
    )


# --------------------------------------------------------------------------- 2. unexpected errors


def test_a_dataset_that_cannot_be_downloaded_names_data_root(sparse, runs, monkeypatch, tmp_path):
    """The README tour's first command on a machine without network or data_root."""
    import socket

    pytest.importorskip("ir_datasets")
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))

    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    result = sparse("encode", "data=scifact")
    assert result.exit_code == 3
    assert error_line(result) == (
        "error: data: cannot download ir_datasets beir/scifact/test (ConnectionError: no network?); read a local "
        "copy: pass data_root=<folder> (e.g. data_root=../shared/data) or set SPARSECLI_DATA_ROOT; "
        "or data=beir data.path=<BEIR folder>"
    )
    assert nothing_in(runs / "encode")


def test_an_unexpected_exception_names_the_log_with_its_traceback(sparse, runs, monkeypatch):
    from sparsecli.retrieval.exact import index

    encoded = sparse(*TINY_ENCODE)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(index, "build", broken)
    result = sparse("index", f"encode_run={encoded.run_dir}")
    assert result.exit_code == 1
    line = error_line(result)
    prefix = "error: RuntimeError: boom (an unexpected error: please report it); the traceback is in "
    assert line.startswith(prefix)
    log = Path(line[len(prefix) :])
    assert log.parent == runs / "logs" and log.name.startswith("index-")
    assert "Traceback" in log.read_text() and "RuntimeError: boom" in log.read_text()
    assert nothing_in(runs / "index")  # the run directory is gone; only the log is kept


def test_a_crash_before_any_run_logs_under_the_runs_root_given(sparse, runs, monkeypatch, tmp_path):
    import tempfile

    from sparsecli.runs import validate

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(validate, "check", broken)
    prefix = "error: RuntimeError: boom (an unexpected error: please report it); the traceback is in "
    result = sparse(*TINY_ENCODE, f"runs_root={tmp_path / 'elsewhere'}")
    assert result.exit_code == 1 and error_line(result).startswith(prefix)
    assert Path(error_line(result)[len(prefix) :]).parent == tmp_path / "elsewhere" / "logs"

    blocker = tmp_path / "a-file"  # a runs_root that cannot hold logs: the temp folder does
    blocker.write_text("")
    result = sparse(*TINY_ENCODE, f"runs_root={blocker}")
    log = Path(error_line(result)[len(prefix) :])
    assert (
        result.exit_code == 1 and log.parent == Path(tempfile.gettempdir()) and "RuntimeError: boom" in log.read_text()
    )
    log.unlink()


def test_a_hub_dataset_that_cannot_be_loaded_is_one_line(sparse, runs, monkeypatch):
    """Offline, a hub dataset is read from the local cache only: no minute of retries."""
    from sparsecli.io import hub

    monkeypatch.setattr(hub, "_reachable", {"huggingface.co": False})
    start = time.monotonic()
    result = sparse("encode", "data=hf", "data.hf.corpus.path=no-such-org/no-such-dataset")
    assert time.monotonic() - start < 15  # the hub client alone retries for ~26 s
    assert result.exit_code == 3
    assert "(OfflineModeIsEnabled)" in error_line(result)
    assert error_line(result).startswith(
        "error: data.hf.corpus.path: cannot load the Hugging Face dataset no-such-org/no-such-dataset ("
    )
    assert error_line(result).endswith(
        "); check the name, config and split, or read a local copy: data_root=<folder> or "
        "data.hf.corpus.path=<a save_to_disk folder>"
    )
    assert nothing_in(runs / "encode")


def test_a_stopword_list_that_is_not_utf8_is_one_line(sparse, runs, tmp_path):
    words = tmp_path / "stop.txt"
    words.write_bytes(b"the\n\xff\n")
    result = sparse(*TINY_ENCODE, f"encoder.analyzer.stopwords={words}")
    assert result.exit_code == 3
    assert error_line(result) == (
        f"error: {words}: not UTF-8 text (invalid start byte at byte 4); save the stopword list as UTF-8, "
        "one word per line"
    )


# --------------------------------------------------------------------------- 3. experiment presets


def test_packaged_presets_work_from_any_folder(sparse, runs):
    cfg = sparse("encode", "+experiment=bm25-tuned-scifact", "--cfg", "job")
    assert cfg.exit_code == 0 and "k1: 1.2" in cfg.stdout and "name: scifact" in cfg.stdout
    assert "experiment:" not in cfg.stdout  # a group, not a string key
    unknown = sparse("encode", "+experiment=nope")
    assert unknown.exit_code == 2
    assert error_line(unknown) == (
        "error: override '+experiment=nope': unknown option experiment=nope; choose one of: bm25-tuned-scifact"
    )


def test_presets_in_conf_and_sparsecli_conf(sparse, runs, tmp_path, monkeypatch):
    preset = "# @package _global_\ndefaults:\n  - override /data: cranfield\nencoder:\n  k1: {k1}\n"
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "local.yaml").write_text(preset.format(k1=1.7))
    elsewhere = tmp_path / "lab"
    (elsewhere / "experiment").mkdir(parents=True)
    (elsewhere / "experiment" / "shared.yaml").write_text(preset.format(k1=1.9))
    monkeypatch.setenv("SPARSECLI_CONF", str(elsewhere))
    assert "k1: 1.7" in sparse("encode", "+experiment=local", "--cfg", "job").stdout
    assert "k1: 1.9" in sparse("encode", "+experiment=shared", "--cfg", "job").stdout
    listed = error_line(sparse("encode", "+experiment=nope"))
    assert listed.endswith("choose one of: bm25-tuned-scifact, local, shared")  # train-rec's are not listed


def test_train_rec_presets_give_the_run_of_their_explicit_command(sparse, runs):
    explicit = ("data=p5-beauty", "model=sasrec", "loss=ce", "trainer=long", "sparsity=dsl", "model.dropout=0.2",
                "trainer.max_epochs=30", "sparsity.sparsity=0.5")  # fmt: skip
    preset = sparse("train-rec", "+experiment=dsl-beauty", "--cfg", "job")
    assert preset.exit_code == 0 and preset.stdout == sparse("train-rec", *explicit, "--cfg", "job").stdout
    dense = sparse("train-rec", "+experiment=dsl-beauty", "~sparsity", "--cfg", "job")  # the dense model beside it
    spelled_out = [o for o in explicit if not o.startswith("sparsity")]
    assert dense.exit_code == 0 and dense.stdout == sparse("train-rec", *spelled_out, "--cfg", "job").stdout
    retrieval = sparse("train-rec", "+experiment=bm25-tuned-scifact")
    assert retrieval.exit_code == 2 and error_line(retrieval) == (
        "error: override '+experiment=bm25-tuned-scifact': experiment=bm25-tuned-scifact is for other commands, "
        "not `sparse train-rec`; choose one of: dsl-beauty, m2trec-diginetica"
    )
    assert error_line(sparse("encode", "+experiment=dsl-beauty")).endswith("choose one of: bm25-tuned-scifact")
    swept = sparse("encode", "-m", "+experiment=glob(*)", "data=scifact")  # a glob is checked as its matches
    assert error_line(swept) == (
        "error: override '+experiment=glob(*)': experiment=dsl-beauty is for other commands, not `sparse encode`; "
        "choose one of: bm25-tuned-scifact"
    )
    assert error_line(sparse("prune", "+experiment=dsl-beauty", "checkpoint=x")).endswith(
        "none ships for `sparse prune`: write your own in ./conf/experiment/"
    )


def test_the_break_test_findings_are_one_line_each(sparse, runs, tmp_path, monkeypatch):
    """What a fresh user tried: a rec dataset given to prune (whose data is optional), a bad
    value set in a preset, a preset without its +, a misspelt $SPARSECLI_CONF, and --resolve
    over an unset environment variable."""
    assert error_line(sparse("prune", "data=p5-beauty", "checkpoint=x")).startswith(
        "error: override 'data=p5-beauty': data=p5-beauty is for other commands, not `sparse prune`; choose one of: "
        "arguana, beir,"
    )
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "bad.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /data: p5-beauty\n  - override /model: sasrec\n"
        "model:\n  dropout: abc\n"
    )
    for extra in ((), ("model.dropout=0.1",)):  # the preset's value is the one at fault, whatever the line says
        assert error_line(sparse("train-rec", "+experiment=bad", *extra)) == (
            f"error: model.dropout: 'abc' is not a number (in {tmp_path / 'conf' / 'experiment' / 'bad.yaml'}); "
            "pass a number, e.g. model.dropout=0.5"
        )
    assert error_line(sparse("train-rec", "experiment=dsl-beauty")) == (
        "error: override 'experiment=dsl-beauty': experiment is not chosen by default; "
        "add a preset with a +: +experiment=dsl-beauty"
    )
    unresolved = sparse("train-rec", "data=p5-beauty", "model=sasrec", "data_root=${oc.env:SPARSECLI_NOPE}",
                        "--cfg", "job", "--resolve")  # fmt: skip
    assert unresolved.exit_code == 2 and error_line(unresolved) == (
        "error: data_root: \"Environment variable 'SPARSECLI_NOPE' not found\"; check the ${...} it refers to"
    )
    monkeypatch.setenv("SPARSECLI_CONF", str(tmp_path / "labb"))
    assert error_line(sparse("train-rec", "+experiment=dsl-beauty")) == (
        f"error: $SPARSECLI_CONF: {tmp_path / 'labb'} is not a folder; create it, or set SPARSECLI_CONF to "
        "folders of configs (separated by ':')"
    )
    assert not runs.exists()


def test_presets_written_wrong_and_a_required_group_set_to_null(sparse, runs, tmp_path):
    presets = tmp_path / "conf" / "experiment"
    presets.mkdir(parents=True)
    (presets / "nopkg.yaml").write_text("defaults:\n  - override /model: gru4rec\n")
    (presets / "noov.yaml").write_text("# @package _global_\ndefaults:\n  - /model: gru4rec\n")
    assert error_line(sparse("train-rec", "+experiment=nopkg", "data=ml-100k", "model=sasrec")) == (
        f"error: {presets / 'nopkg.yaml'}: overrides the model group but is not a global package; "
        "make `# @package _global_` its first line, as presets need"
    )
    assert error_line(sparse("train-rec", "+experiment=noov", "data=ml-100k")) == (
        f"error: {presets / 'noov.yaml'}: the model group is chosen twice; write `- override /model: gru4rec` in "
        "the preset's defaults list"
    )
    (presets / "nested.yaml").write_text("model:\n  dim: 32\n")
    assert error_line(sparse("train-rec", "+experiment=nested", "data=ml-100k", "model=sasrec")) == (
        f"error: {presets / 'nested.yaml'}: puts its settings under `experiment:`; make `# @package _global_` its "
        "first line, as presets need"
    )
    (presets / "empty.yaml").write_text("")
    assert error_line(sparse("train-rec", "+experiment=empty", "data=ml-100k", "model=sasrec")) == (
        f"error: {presets / 'empty.yaml'}: is empty; write its settings after a first line `# @package _global_`"
    )
    assert error_line(sparse("prune", "checkpoint=x", "sparsity=null")) == (
        "error: override 'sparsity=null': `sparse prune` needs a sparsity option; choose one of: dsl, gradual, imp, "
        "oneshot, rigl, set, srste"
    )


@pytest.mark.parametrize(
    "args, line",
    [
        (("--help", "foo=bar"), "error: foo: no such setting foo; settings here: data, data_root, experiment, init, "
                                "loss, model, rank, runs_root, runtime, seed, sparsity, trainer"),
        (("--help", "trainer.lr=abc"), "error: trainer.lr: 'abc' is not a number; pass a number, e.g. trainer.lr=0.001"),
        (("--cfg", "job", "trainer.lr=-0.1"), "error: trainer.lr: must be > 0; pass e.g. 1e-3"),
        (("--cfg", "job", "model.heads=3"), "error: model.heads: must divide model.dim=64; pass e.g. model.heads=1 or 2"),
        (("sparsity.sparsity=0.7",), "error: sparsity: sparsity.sparsity is set, but no sparsity option is chosen; "
                                     "choose one as well, e.g. sparsity=dsl sparsity.sparsity=0.7 (options: dsl, "
                                     "gradual, imp, oneshot, rigl, set, srste)"),
        (("hydra.run.dir=elsewhere",), "error: override 'hydra.run.dir=elsewhere': hydra.run.dir is set by sparse: "
                                       "runs go to <runs_root>/<command>/<key>, where a rerun finds them; pass "
                                       "runs_root=<folder> (or set SPARSECLI_RUNS) to keep runs elsewhere"),
        (("encoder=splade",), "error: encoder: is a setting of `sparse encode`, not of `sparse train-rec`; drop it "
                              "(`sparse train-rec --help` lists this command's settings)"),
        (("encoder.k1=1.2",), "error: encoder: is a setting of `sparse encode`, not of `sparse train-rec`; drop it "
                              "(`sparse train-rec --help` lists this command's settings)"),
        (("--hepl",), "error: command line: unknown flag --hepl; did you mean --help? overrides are key=value; "
                      "flags: --help, --cfg job, -m, --resolve"),
        (("--cfg", "jb"), "error: command line: --cfg jb: unknown part; pass --cfg job (or hydra, all)"),
        (("--config-name=encode",), "error: command line: --config-name is not supported; the command chooses its "
                                    "config"),
    ],
)  # fmt: skip
def test_help_cfg_and_flags_are_checked_as_a_run_is(sparse, runs, args, line):
    result = sparse("train-rec", "data=ml-100k", "model=sasrec", *args)
    assert result.exit_code == 2 and error_line(result) == line
    assert not runs.exists()


def test_a_bare_info_flag_leaves_the_overrides_alone(sparse, runs):
    from sparsecli.runs.validate import split

    assert split(["data=x", "--info", "model=y"]) == (["data=x", "model=y"], ["--info", "all"])
    assert split(["--info", "defaults", "data=x", "--cfg=job"]) == (["data=x"], ["--info", "defaults", "--cfg", "job"])


# --------------------------------------------------------------------------- 4. values and keys


@pytest.mark.parametrize(
    "override, line",
    [
        ("encoder.k1=abc", "error: encoder.k1: 'abc' is not a number; pass a number, e.g. encoder.k1=0.9"),
        ("encoder.variant=bm26", "error: encoder.variant: unknown value 'bm26'; did you mean encoder.variant=bm25l? "
                                 "choose one of: lucene, robertson, atire, bm25l, bm25plus"),
        ("runtime.threads=abc", "error: runtime.threads: 'abc' is not an integer; pass an integer, e.g. "
                                "runtime.threads=0"),
        ("encoder.kl=1.2", "error: encoder.kl: no such setting encoder.kl; did you mean encoder.k1? (settings here: "
                           "encoder.analyzer, encoder.b, encoder.delta, encoder.k1, encoder.lucene_norms, encoder.name, "
                           "encoder.variant)"),
        ("dta=beir", "error: dta: no such setting dta; did you mean data? (settings here: data, data_root, encoder, "
                     "experiment, export, runs_root, runtime, seed)"),
        ("encoder.b=2", "error: encoder.b: must be in [0, 1], got 2.0; Anserini uses 0.4"),
    ],
)  # fmt: skip
def test_bad_values_and_unknown_keys_are_one_line_exit_2(sparse, runs, override, line):
    result = sparse(*TINY_ENCODE, override)
    assert result.exit_code == 2 and error_line(result) == line
    assert "+" not in result.stderr  # never the advice to add a new key
    assert not runs.exists()


def test_a_mapping_is_set_whole_with_double_plus(sparse, runs):
    """sparsity.per_layer (regex -> sparsity) has no fixed keys: `++` sets it, a plain override says how."""
    layers = ("prune", "checkpoint=x", "sparsity.allocation=layers")
    shown = sparse(*layers, r"++sparsity.per_layer={layer\.0\..*: 0.3, attn: 0.1}", "--cfg", "job")
    assert shown.exit_code == 0 and "  per_layer:\n    layer\\.0\\..*: 0.3\n    attn: 0.1\n" in shown.stdout
    for override in ("sparsity.per_layer={attn: 0.3}", "sparsity.per_layer.attn=0.3"):
        assert error_line(sparse(*layers, override)) == (
            "error: sparsity.per_layer: a mapping, set as a whole; "
            "pass '++sparsity.per_layer={<key>: <value>, ...}' (++ replaces the entries it has)"
        )
    assert error_line(sparse(*layers, "++sparsity.per_layer={attn: 1.3}")) == (
        "error: sparsity.per_layer.attn: must be in [0, 1), got 1.3; e.g. 0.5"
    )


def test_an_option_field_on_the_wrong_option_fails_at_composition(sparse, runs):
    encoded = sparse(*TINY_ENCODE)
    exact = sparse("index", f"encode_run={encoded.run_dir}")
    approx_field = sparse("search", f"index_run={exact.run_dir}", "search.query_cut=3")
    assert approx_field.exit_code == 2
    assert error_line(approx_field).startswith("error: search.query_cut: no such setting search.query_cut;")
    wrong_index = sparse("search", f"index_run={exact.run_dir}", "search=approx_r95")
    assert wrong_index.exit_code == 2
    assert error_line(wrong_index) == (
        f"error: search: search=approx cannot search index=exact ({exact.run_dir}); pair index=exact with "
        "search=exact and index=seismic with search=approx (or one of its presets); this search needs index=seismic"
    )
    assert nothing_in(runs / "search")


# --------------------------------------------------------------------------- 5 and 6. shards and Ctrl-C


def lsr_encode(model, *extra):
    return (*TINY_ENCODE, "encoder=splade", f"encoder.model={model}", "encoder.batch_size=2", *extra)


def failing_shard(monkeypatch, index, error):
    from sparsecli.encode.lsr import shards

    original = shards.ShardStore.write

    def write(self, shard, positions, rows):
        if shard == index:
            raise error
        original(self, shard, positions, rows)

    monkeypatch.setattr(shards.ShardStore, "write", write)
    return original


def test_ctrl_c_keeps_the_finished_shards_and_says_how_to_resume(sparse, runs, tiny_bert, monkeypatch):
    original = failing_shard(monkeypatch, 2, KeyboardInterrupt())
    interrupted = sparse(*lsr_encode(tiny_bert, "encoder.shard_size=2"))
    run_dir = next((runs / "encode").iterdir())
    assert interrupted.exit_code == 130
    last = interrupted.stderr.rstrip().splitlines()[-1]
    assert last == f"interrupted after 2 of 5 shards; rerun the same command to resume (kept in {run_dir})"
    assert sorted(p.name for p in (run_dir / "work" / "shards-2").iterdir()) == ["000000", "000001"]
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "interrupted"

    from sparsecli.encode.lsr import shards

    monkeypatch.setattr(shards.ShardStore, "write", original)
    resumed = sparse(*lsr_encode(tiny_bert, "encoder.shard_size=2"))
    assert resumed.exit_code == 0 and resumed.run_dir == run_dir
    lines = resumed.stderr.splitlines()
    resuming = next(i for i, line in enumerate(lines) if "resuming: 2 of 5 shards were already encoded" in line)
    assert resuming < next(i for i, line in enumerate(lines) if "encode docs:" in line)  # said first, not last
    attempts = json.loads((run_dir / "meta.json").read_text())["attempts"]
    assert [a["status"] for a in attempts] == ["interrupted", "complete"]


def test_a_sigterm_while_a_failure_is_reported_does_not_cut_the_report_short(sparse, runs, tiny_bert, monkeypatch):
    """torchrun sends SIGTERM to every rank once one fails; on the others it lands while their
    own failure (the lost peer) is being recorded."""
    import os
    import signal

    from sparsecli.runs import protocol

    failing_shard(monkeypatch, 2, RuntimeError("boom"))
    log_traceback = protocol._log_traceback

    def terminated_meanwhile(*args):
        os.kill(os.getpid(), signal.SIGTERM)
        return log_traceback(*args)

    monkeypatch.setattr(protocol, "_log_traceback", terminated_meanwhile)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    result = sparse(*lsr_encode(tiny_bert, "encoder.shard_size=2"))
    run_dir = next((runs / "encode").iterdir())
    assert result.exit_code == 1
    assert error_line(result).endswith(f"2 of 5 shards are kept in {run_dir}; rerun the same command to resume")
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "failed"
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_ctrl_c_without_resumable_work_leaves_nothing(sparse, runs, monkeypatch):
    from sparsecli.encode.bm25 import encoder

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(encoder, "weigh", interrupted)
    result = sparse(*TINY_ENCODE)
    assert result.exit_code == 130 and result.stderr.rstrip().splitlines()[-1] == "interrupted; nothing was kept"
    assert nothing_in(runs / "encode")


def test_a_removed_runs_log_file_is_let_go(sparse, runs, monkeypatch):
    """In one process (a sweep, a test), lines logged after a failed run's directory is removed
    must not try to reopen its log file there."""
    import logging

    from sparsecli import ui
    from sparsecli.encode.bm25 import encoder

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(encoder, "weigh", broken)
    assert sparse(*TINY_ENCODE).exit_code == 130 and nothing_in(runs / "encode")
    assert ui.attempt_log() is None
    logging.getLogger("sparsecli").warning("after the run")  # no handler left to remake the folder
    assert nothing_in(runs / "encode")


def test_an_interrupted_forced_recompute_keeps_the_complete_run_and_its_record(sparse, runs, monkeypatch):
    from sparsecli.encode.bm25 import encoder

    done = sparse(*TINY_ENCODE)
    record = (done.run_dir / ".hydra" / "config.yaml").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(encoder, "weigh", interrupted)
    result = sparse(*TINY_ENCODE, "runtime.force=true")
    assert result.exit_code == 130 and result.stderr.rstrip().splitlines()[-1] == (
        f"interrupted; {done.run_dir} keeps its earlier complete artifacts (runtime.force=true recomputes them)"
    )
    assert (done.run_dir / ".hydra" / "config.yaml").read_bytes() == record
    assert (done.run_dir / "DONE.json").is_file() and not (done.run_dir / "work").exists()


def test_a_crash_after_finished_shards_keeps_them(sparse, runs, tiny_bert, monkeypatch):
    failing_shard(monkeypatch, 1, RuntimeError("disk full"))
    result = sparse(*lsr_encode(tiny_bert, "encoder.shard_size=4"))
    run_dir = next((runs / "encode").iterdir())
    assert result.exit_code == 1
    assert error_line(result) == (
        f"error: RuntimeError: disk full; the traceback is in {next((run_dir / 'logs').iterdir())}; "
        f"1 of 3 shards are kept in {run_dir}; rerun the same command to resume"
    )


def test_vectors_do_not_depend_on_shard_size_or_interruptions(sparse, runs, tiny_bert, monkeypatch, tmp_path):
    """Batches are cut from the whole collection in one order: any shard size, and a run
    interrupted and resumed, give the same bytes in the same run directory."""

    def artifacts(*extra, root):
        monkeypatch.setenv("SPARSECLI_RUNS", str(tmp_path / root))
        result = sparse(*lsr_encode(tiny_bert, *extra))
        assert result.exit_code == 0, result.stderr
        return result.run_dir.name, json.loads((result.run_dir / "DONE.json").read_text())["artifacts"]

    whole = artifacts("encoder.shard_size=100", root="whole")
    assert artifacts("encoder.shard_size=2", root="two") == whole
    assert artifacts("encoder.shard_size=3", root="three") == whole  # rounded up to whole batches (4)
    original = failing_shard(monkeypatch, 1, KeyboardInterrupt())
    monkeypatch.setenv("SPARSECLI_RUNS", str(tmp_path / "resumed"))
    assert sparse(*lsr_encode(tiny_bert, "encoder.shard_size=2")).exit_code == 130
    from sparsecli.encode.lsr import shards

    monkeypatch.setattr(shards.ShardStore, "write", original)
    assert artifacts("encoder.shard_size=4", root="resumed") == whole  # resumed with other shards, too
    assert {"docs/data.npy", "docs/indices.npy", "queries/data.npy", "manifest.json"} <= set(whole[1])


# --------------------------------------------------------------------------- 7. hub ids offline


def test_an_unreachable_hub_id_is_one_line_within_seconds(sparse, runs, monkeypatch, tmp_path):
    import socket

    import huggingface_hub.constants

    from sparsecli.io import hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))

    def unreachable(*args, **kwargs):
        time.sleep(10)  # a black-holed network: only our timeout ends the wait
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(hub, "_reachable", {})
    start = time.monotonic()
    result = sparse(*TINY_ENCODE, "encoder=splade", "encoder.model=naver/splade-v3")
    # below the 10 s a black-holed connect takes, with room for a loaded machine (5.5 s seen)
    assert time.monotonic() - start < 9
    assert result.exit_code == 3
    assert error_line(result) == (
        "error: encoder.model: cannot reach the Hugging Face hub to download naver/splade-v3 (offline, or "
        "HF_HUB_OFFLINE=1), and it is not in the local cache; pass encoder.model=<local folder with config.json, "
        "tokenizer and weights>, or run once with network access and then encoder.local_files_only=true"
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = sparse(*TINY_ENCODE, "encoder=splade", "encoder.model=naver/splade-v3")
    assert offline.exit_code == 3 and "naver/splade-v3" in error_line(offline)
    assert not runs.exists()


# --------------------------------------------------------------------------- 8. stable keys


def test_relative_absolute_and_copied_data_share_a_run(sparse, runs, tmp_path, monkeypatch):
    absolute = sparse(*TINY_ENCODE)
    monkeypatch.chdir(TINY.parent)
    relative = sparse("encode", "data=beir", "data.path=tiny")
    assert relative.run_dir.name == absolute.run_dir.name and "cache hit" in relative.stderr
    copy = tmp_path / "copy"
    shutil.copytree(TINY, copy)
    copied = sparse("encode", "data=beir", f"data.path={copy}")
    assert copied.run_dir.name == absolute.run_dir.name and "cache hit" in copied.stderr


def test_content_hashes_are_computed_once(tmp_path, monkeypatch):
    from sparsecli.io import checksum

    monkeypatch.setenv("SPARSECLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(checksum, "_cache", None)
    reads = []
    original = checksum.sha256_file
    monkeypatch.setattr(checksum, "sha256_file", lambda path: reads.append(path) or original(path))
    first = checksum.content_sha256(TINY / "corpus.jsonl")
    monkeypatch.setattr(checksum, "_cache", None)  # a new process: the cache is read from disk
    assert checksum.content_sha256(TINY / "corpus.jsonl") == first and len(reads) == 1


# --------------------------------------------------------------------------- 9. meta.json


def test_meta_records_threads_used_peak_memory_and_every_attempt(sparse, runs):
    import numba

    encoded = sparse(*TINY_ENCODE)
    index = sparse("index", f"encode_run={encoded.run_dir}", "runtime.threads=1")
    meta = json.loads((index.run_dir / "meta.json").read_text())
    assert meta["threads"] == 1 and meta["threads_used"] == 1
    assert all(v > 0 for v in meta["peak_rss_bytes"].values()) and set(meta["peak_rss_bytes"]) == {"build"}
    again = sparse("index", f"encode_run={encoded.run_dir}", "runtime.force=true")
    meta = json.loads((again.run_dir / "meta.json").read_text())
    assert [a["threads_used"] for a in meta["attempts"]] == [1, numba.config.NUMBA_NUM_THREADS]
    assert [a["status"] for a in meta["attempts"]] == ["complete", "complete"]


def test_hydra_record_is_the_computing_attempts_and_a_cache_hit_leaves_it(sparse, runs):
    """.hydra/ tells how the artifacts were made: a cache hit with settings outside the key
    (threads) must not rewrite it; a forced recompute does."""
    import yaml

    encoded = sparse(*TINY_ENCODE)
    first = sparse("index", f"encode_run={encoded.run_dir}", "runtime.threads=1")
    record = first.run_dir / ".hydra"
    written = {name: (record / name).read_bytes() for name in ("config.yaml", "hydra.yaml", "overrides.yaml")}
    assert yaml.safe_load(written["config.yaml"])["runtime"]["threads"] == 1
    assert yaml.safe_load(written["overrides.yaml"]) == [f"encode_run={encoded.run_dir}", "runtime.threads=1"]
    assert yaml.safe_load(written["hydra.yaml"])["hydra"]["job"]["name"] == "index"
    hit = sparse("index", f"encode_run={encoded.run_dir}", "runtime.threads=2")
    assert hit.run_dir == first.run_dir and "cache hit" in hit.stderr
    assert {name: (record / name).read_bytes() for name in written} == written
    forced = sparse("index", f"encode_run={encoded.run_dir}", "runtime.threads=2", "runtime.force=true")
    assert yaml.safe_load((record / "config.yaml").read_text())["runtime"]["threads"] == 2 and forced.exit_code == 0
    assert not list(record.glob(".*tmp-*"))


def test_a_cache_hit_computed_at_another_thread_count_says_so_where_bytes_follow_threads(sparse, runs):
    import numba

    from test_rec import SMALL, rule_data

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: no other thread count to ask for")
    folder = rule_data(runs.parent / "rule")
    args = ("train-rec", "data=atomic", f"data.path={folder}", "data.file=rule.inter", *SMALL, "trainer.max_epochs=1")
    sparse(*args, "runtime.threads=1")
    same = sparse(*args, "runtime.threads=1")
    other = sparse(*args, "runtime.threads=2")
    assert "cache hit" in same.stderr and "WARNING" not in same.stderr
    assert other.run_dir == same.run_dir and other.exit_code == 0
    assert "these artifacts were computed on 1 thread(s), this call would run on 2: the bytes may differ" in (
        other.stderr
    )


# --------------------------------------------------------------------------- 10. --version


def test_version(sparse):
    from sparsecli import __version__

    for flag in ("--version", "-V"):
        result = sparse(flag)
        assert result.exit_code == 0 and result.stdout == f"sparsecli {__version__}\n"


# --------------------------------------------------------------------------- 11. sweeps


def test_a_sweep_ends_with_a_table_and_keeps_its_own_record(sparse, runs):
    encoded = sparse(*TINY_ENCODE)
    index = sparse("index", f"encode_run={encoded.run_dir}")
    first = sparse("search", "-m", f"index_run={index.run_dir}", "search.k=1,2")
    assert first.exit_code == 0
    dirs = [line for line in first.stdout.splitlines() if line.startswith(str(runs))]
    table = first.stderr[first.stderr.index("sweep of 2 runs") :]
    for k, run_dir in zip((1, 2), dirs):
        assert f"│ {k}" in table and f"search/{Path(run_dir).name}" in table
    second = sparse("search", "-m", f"index_run={index.run_dir}", "search.k=3,4")
    assert second.exit_code == 0
    sweeps = sorted((runs / "search" / "sweeps").iterdir())
    assert len(sweeps) == 2 and all((s / "multirun.yaml").is_file() for s in sweeps)
    rows = (sweeps[0] / "summary.tsv").read_text().splitlines()
    assert rows == ["search.k\trun", *(f"{k}\tsearch/{Path(d).name}" for k, d in zip((1, 2), dirs))]


def test_eval_compares_runs_by_what_differs(sparse, runs):
    runs_by_k1 = []
    for k1 in ("0.9", "1.2"):
        encoded = sparse(*TINY_ENCODE, f"encoder.k1={k1}")
        index = sparse("index", f"encode_run={encoded.run_dir}")
        runs_by_k1.append(sparse("search", f"index_run={index.run_dir}", "search.k=5").run_dir)
    listed = sparse("eval", f"search_run=[{runs_by_k1[0]},{runs_by_k1[1]}]")
    report = json.loads((listed.run_dir / "report.json").read_text())
    assert [r["label"] for r in report["runs"]] == ["encoder.k1=0.9", "encoder.k1=1.2"]
    assert "encoder.k1=0.9" in listed.stdout and "encoder.k1=1.2" in listed.stdout
    swept = sparse("eval", "-m", f"search_run={runs_by_k1[0]},{runs_by_k1[1]}")
    assert swept.exit_code == 0 and "sparse eval" not in swept.stdout  # no table per job
    header, *rows = (next((runs / "eval" / "sweeps").iterdir()) / "summary.tsv").read_text().splitlines()
    assert header == "search_run\tdiffers\tnDCG@10\tRR@10\tR@100\tR@1000\trun"
    assert [row.split("\t")[1] for row in rows] == ["encoder.k1=0.9", "encoder.k1=1.2"]


# --------------------------------------------------------------------------- more mistakes, each one line


@pytest.mark.parametrize(
    "args, code, line",
    [
        (("encoder.k1=0.9,1.2",), 2, "error: command line: encoder.k1=0.9,1.2 lists several values; add -m to run "
                                     "one job per value, or give a list: key=[a,b] (quote the argument)"),
        (("+encoder.kl=1.2",), 2, "error: encoder.kl: no such setting encoder.kl; did you mean encoder.k1? (settings "
                                  "here: encoder.analyzer, encoder.b, encoder.delta, encoder.k1, encoder.lucene_norms, "
                                  "encoder.name, encoder.variant)"),
        (("~encoder.k1",), 2, "error: encoder.k1: cannot delete a setting; set it instead: encoder.k1=<value>"),
        (("runtime.force=maybe",), 2, "error: runtime.force: 'maybe' is not true or false; pass true or false, e.g. "
                                      "runtime.force=False"),
        (("runs_root=",), 2, "error: runs_root: is empty (SPARSECLI_RUNS set to nothing?); pass a folder, e.g. "
                             "runs_root=runs, or unset SPARSECLI_RUNS"),
        (("--config-dir", "/x"), 2, "error: command line: --config-dir is not supported; put configs of your own in "
                                    "./conf or in $SPARSECLI_CONF"),
        (("--cfg", "job", "-m"), 2, "error: command line: --cfg shows one job's config, -m runs a sweep; drop -m to "
                                    "see a config"),
        (("encoder=splade", "encoder.model=/nonexistent"), 3, "error: encoder.model: /nonexistent is not a folder; "
                                                              "pass encoder.model=<existing model folder> or a hub id"),
        (("encoder.analyzer.stopwords=/no.txt",), 2, "error: encoder.analyzer.stopwords: unknown stopword list "
                                                     "'/no.txt'; use one of lucene, none or a path to a file with one "
                                                     "word per line"),
    ],
)  # fmt: skip
def test_more_mistakes_are_one_line(sparse, runs, args, code, line):
    result = sparse(*TINY_ENCODE, *args)
    assert result.exit_code == code and error_line(result) == line
    assert not runs.exists()


def test_a_runs_root_that_cannot_hold_runs(sparse, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = sparse(*TINY_ENCODE, f"runs_root={blocker}")
    assert result.exit_code == 2
    assert error_line(result) == (
        f"error: runs_root: cannot make run directories in {blocker}/encode (Not a directory); "
        "pass runs_root=<a writable folder> (or set SPARSECLI_RUNS)"
    )


def test_a_model_longer_than_its_positions_is_refused_before_the_run(sparse, runs, tiny_bert):
    result = sparse(*lsr_encode(tiny_bert, "encoder.doc.max_length=1024"))
    assert result.exit_code == 2
    assert error_line(result) == (
        f"error: encoder.doc.max_length: 1024 tokens, but {tiny_bert} has 512 positions; "
        "pass encoder.doc.max_length=512 or less"
    )
    assert not runs.exists()


def test_a_failing_sweep_job_does_not_stop_the_others(sparse, runs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(TINY, broken)
    sweep = sparse("encode", "-m", "data=beir", f"data.path={TINY},{broken}")
    assert sweep.exit_code == 0
    (broken / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n{"_id": "d1", "text": "y"}\n')  # after the check
    rerun = sparse("encode", "-m", "data=beir", f"data.path={TINY},{broken}", "encoder.k1=1.1")
    assert rerun.exit_code == 3
    finished = [line for line in rerun.stdout.splitlines() if line.startswith(str(runs))]
    assert len(finished) == 1  # the good job still ran
    assert f"error: {broken}/corpus.jsonl:2: duplicate document id" in rerun.stderr
