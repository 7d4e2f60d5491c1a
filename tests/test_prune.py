"""`sparse prune` on a tiny BERT with random weights (built from a config, saved, and loaded
through the users' path): the exported folder is a plain checkpoint, masks and report agree
with the weights, `sparse encode` reads it, and bad settings are one line."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from conftest import TINY, error_line


BYTES = ("model.safetensors", "masks.safetensors", "report.json")  # what must repeat byte for byte


def prune(sparse, model, *extra):
    result = sparse("prune", f"checkpoint={model}", "runtime.threads=1", *extra)
    assert result.exit_code == 0, result.stderr
    return result.run_dir


def test_magnitude_pruning_exports_a_plain_checkpoint(sparse, tiny_bert):
    from safetensors import safe_open
    from transformers import AutoModelForMaskedLM

    from sparsecli.sparsity import masks

    run = prune(sparse, tiny_bert, "sparsity.sparsity=0.5")
    report = json.loads((run / "report.json").read_text())
    assert report["sparsity_of_targets"] == 0.5 and report["target_layers"] == 13  # 2 x 6 + the MLM transform
    assert all(layer["sparsity"] == 0.5 for layer in report["layers"])
    # no mask or original weights inside, no larger than the dense file (which also holds a uniCOIL head)
    with safe_open(str(run / "model.safetensors"), framework="pt") as handle:
        keys = set(handle.keys())
    assert not any(k.endswith(("_orig", "_mask")) for k in keys) and "tok_proj.weight" in keys
    assert (run / "model.safetensors").stat().st_size <= (tiny_bert / "model.safetensors").stat().st_size
    pruned = AutoModelForMaskedLM.from_pretrained(run).eval()
    copy.deepcopy(pruned)
    fresh = AutoModelForMaskedLM.from_pretrained(tiny_bert)
    fresh.load_state_dict(pruned.state_dict(), strict=True)
    # the weights are zero exactly where the saved bitmask says
    with safe_open(str(run / "masks.safetensors"), framework="pt") as handle:
        shapes = json.loads(handle.metadata()["shapes"])
        for name, shape in shapes.items():
            keep = masks.unpack(handle.get_tensor(name), tuple(shape))
            assert torch.equal(pruned.get_submodule(name).weight != 0, keep)  # random weights: none were 0
    # outputs do not change through save and load
    inputs = {"input_ids": torch.tensor([[2, 7, 9, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    again = AutoModelForMaskedLM.from_pretrained(run).eval()
    with torch.no_grad():
        assert (pruned(**inputs).logits - again(**inputs).logits).abs().max() == 0


def test_per_layer_sparsities_from_the_command_line(sparse, tiny_bert):
    run = prune(
        sparse, tiny_bert, "sparsity.allocation=layers", r"++sparsity.per_layer={layer\.0\.: 0.25, output: 0.75}"
    )
    report = json.loads((run / "report.json").read_text())
    for layer in report["layers"]:
        expected = 0.25 if ".layer.0." in layer["name"] else 0.75 if "output" in layer["name"] else 0.5
        assert layer["sparsity"] == expected, layer


def test_the_csr_export_computes_what_the_pruned_checkpoint_does(sparse, tiny_bert):
    from transformers import AutoModelForMaskedLM

    from sparsecli.sparsity import csr

    run = prune(sparse, tiny_bert, "sparsity.sparsity=0.9", "csr=true")
    dense = AutoModelForMaskedLM.from_pretrained(run).eval()
    swapped = AutoModelForMaskedLM.from_pretrained(run).eval()
    assert len(csr.swap_in(swapped, run / "csr.safetensors")) == 13
    inputs = {"input_ids": torch.tensor([[2, 7, 9, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        assert torch.allclose(dense(**inputs).logits, swapped(**inputs).logits, atol=1e-4)


def test_encode_runs_the_csr_layers_and_writes_the_same_vectors_as_dense(sparse, tiny_bert):
    import numpy as np

    from sparsecli.io.vectors import load_vectors

    run = prune(sparse, tiny_bert, "sparsity.sparsity=0.9", "csr=true")
    common = ["data=beir", f"data.path={TINY}", "encoder=splade", f"encoder.model={run}", "encoder.device=cpu"]
    dense = sparse("encode", *common)
    fast = sparse("encode", *common, "encoder.sparse_format=csr")
    assert dense.exit_code == 0 and fast.exit_code == 0, fast.stderr
    assert fast.run_dir != dense.run_dir and "csr layers: 13" in fast.stderr
    for side in ("docs", "queries"):
        a, b = load_vectors(dense.run_dir / side), load_vectors(fast.run_dir / side)
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.allclose(a.data, b.data, atol=1e-4)
    # a model without the export, and 2:4 kernels off CUDA, are one line each
    plain = prune(sparse, tiny_bert, "sparsity.sparsity=0.9")
    missing = sparse("encode", *common[:3], f"encoder.model={plain}", "encoder.device=cpu", "encoder.sparse_format=csr")
    assert missing.exit_code != 0 and "encoder.sparse_format" in error_line(missing)
    off_cuda = sparse("encode", *common, "encoder.sparse_format=semi_structured")
    assert off_cuda.exit_code != 0 and "on CUDA in fp16 or bf16" in error_line(off_cuda)


def test_semi_structured_swaps_only_two_four_linears_of_kernel_shapes():
    from torch import nn

    from sparsecli.sparsity import semistructured, structure

    model = nn.Sequential(nn.Linear(128, 64), nn.Linear(64, 64), nn.Linear(64, 16))
    with torch.no_grad():
        for layer in model:
            layer.weight.mul_(structure.n_m(layer.weight.abs(), 2, 4))
        model[1].weight[0, :4] = 1.0  # one group of four dense: not 2:4
    converted = []
    names = semistructured.swap_in(model, lambda w: converted.append(w.shape) or w.clone())
    assert names == ["0"] and converted == [(64, 128)]  # [1] is not 2:4, [2] has 16 rows
    with pytest.raises(ValueError, match="CUDA in fp16 or bf16"):
        semistructured.swap_in(model)


def test_n_m_pruning_is_valid_in_every_group(sparse, tiny_bert):
    run = prune(sparse, tiny_bert, "sparsity.structure=nm", "sparsity.nm=2:4")
    report = json.loads((run / "report.json").read_text())
    assert all(layer["nm_valid"] for layer in report["layers"])
    assert report["sparsity_of_targets"] == 0.5


def test_wanda_calibrates_on_the_collection_and_encode_reads_the_result(sparse, tiny_bert):
    run = prune(
        sparse, tiny_bert, "data=beir", f"data.path={TINY}", "sparsity.criterion=wanda", "calibration.n_samples=8"
    )
    report = json.loads((run / "report.json").read_text())
    assert report["sparsity"]["criterion"] == "wanda"
    # Wanda prunes exactly floor(s * cols) in every output row
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(run)
    weight = model.bert.encoder.layer[0].intermediate.dense.weight
    assert ((weight == 0).sum(dim=1) == weight.shape[1] // 2).all()
    enc = sparse("encode", "data=beir", f"data.path={TINY}", "encoder=splade", f"encoder.model={run}")
    assert enc.exit_code == 0, enc.stderr
    # the encode run records the prune run it read
    assert json.loads((run / "DONE.json").read_text())["key"] in (enc.run_dir / "manifest.json").read_text()


def test_dsnot_refines_the_wanda_mask_at_the_same_sparsity(sparse, tiny_bert):
    data = ["data=beir", f"data.path={TINY}", "sparsity.criterion=wanda", "calibration.n_samples=8"]
    wanda = prune(sparse, tiny_bert, *data)
    refined = prune(sparse, tiny_bert, *data, "sparsity.refine=dsnot", "sparsity.dsnot_threshold=0")
    report = json.loads((refined / "report.json").read_text())
    assert report["sparsity"]["refine"] == "dsnot" and report["sparsity_of_targets"] == 0.5
    from safetensors.torch import load_file

    before, after = load_file(wanda / "masks.safetensors"), load_file(refined / "masks.safetensors")
    assert before.keys() == after.keys() and any(not before[k].equal(after[k]) for k in before)


def test_gradual_pruning_inside_self_distillation_reaches_the_target_with_zeros_kept(sparse, tiny_bert):
    from safetensors.torch import load_file

    from sparsecli.sparsity import masks

    args = [
        "data=beir", f"data.path={TINY}", "sparsity=gradual", "sparsity.sparsity=0.7", "sparsity.end=8",
        "sparsity.update_frequency=4", "recovery.steps=12", "recovery.n_docs=8", "recovery.batch_size=4",
        "recovery.seq_len=32",
    ]  # fmt: skip
    run = prune(sparse, tiny_bert, *args)
    report = json.loads((run / "report.json").read_text())
    assert abs(report["sparsity_of_targets"] - 0.7) < 1e-3
    log = report["recovery"]["log"]
    assert [e["step"] for e in log] == [10, 12] and log[-1]["sparsity"] == report["sparsity_of_targets"]
    weights = load_file(run / "model.safetensors")
    for name, keep in masks.load(run / "masks.safetensors").items():
        assert (weights[f"{name}.weight"][~keep] == 0).all()
    again = prune(sparse, tiny_bert, *args, "runtime.force=true")  # dropout included: the same bytes
    assert [(again / f).read_bytes() for f in BYTES] == [(run / f).read_bytes() for f in BYTES]
    # one-shot masks stay fixed through recovery
    fixed = prune(sparse, tiny_bert, "data=beir", f"data.path={TINY}", "sparsity.sparsity=0.5", "recovery.steps=3",
                  "recovery.n_docs=4", "recovery.batch_size=4", "recovery.seq_len=16")  # fmt: skip
    assert json.loads((fixed / "report.json").read_text())["sparsity_of_targets"] == 0.5


@pytest.mark.parametrize(
    "schedule,expect",
    [
        (
            ["sparsity=imp", "sparsity.sparsity=0.75", "sparsity.rounds=2", "sparsity.round_steps=4"],
            [(4, 0.5), (8, None)],
        ),
        (["sparsity=srste", "sparsity.decay=linear", "sparsity.decay_end=6"], [(0, 0.5), (12, 0.5)]),
    ],
)
def test_iterative_pruning_and_srste_train_inside_self_distillation(sparse, tiny_bert, schedule, expect):
    from safetensors.torch import load_file

    from sparsecli.sparsity import masks, structure

    args = [*schedule, "data=beir", f"data.path={TINY}", "recovery.steps=12", "recovery.n_docs=8",
            "recovery.batch_size=4", "recovery.seq_len=32"]  # fmt: skip
    run = prune(sparse, tiny_bert, *args)
    report = json.loads((run / "report.json").read_text())
    changes = report["recovery"]["schedule_log"]
    assert [e["step"] for e in changes] == [step for step, _ in expect]
    for entry, (_, level) in zip(changes, expect):
        if level is not None:
            assert abs(entry["sparsity"] - level) < 1e-3
    weights = load_file(run / "model.safetensors")
    saved = masks.load(run / "masks.safetensors")
    for name, keep in saved.items():
        assert (weights[f"{name}.weight"][~keep] == 0).all()
    if "sparsity=srste" in schedule:
        assert report["sparsity_of_targets"] == 0.5 and all(structure.is_n_m(k, 2, 4) for k in saved.values())
        again = prune(sparse, tiny_bert, *args, "runtime.force=true")
        assert [(again / f).read_bytes() for f in BYTES] == [(run / f).read_bytes() for f in BYTES]
    else:
        assert abs(report["sparsity_of_targets"] - 0.75) < 1e-3


def test_a_layer_pruned_beyond_the_limit_is_refused_and_nothing_is_written(sparse, tiny_bert, runs):
    result = sparse("prune", f"checkpoint={tiny_bert}", "sparsity.sparsity=0.5", "sparsity.max_layer_sparsity=0.4")
    assert result.exit_code != 0
    assert "sparsity.max_layer_sparsity" in error_line(result)
    assert not list(runs.glob("prune/*/model.safetensors"))


@pytest.mark.parametrize(
    "args,where",
    [
        (["sparsity.criterion=wanda"], "data"),
        (["sparsity=gradual"], "recovery.steps"),
        (["sparsity=rigl"], "recovery.steps"),
        (["sparsity=srste", "sparsity.decay=linear", "recovery.steps=500"], "recovery.steps"),
        (["sparsity=srste", "sparsity.refine=dsnot", "recovery.steps=5"], "sparsity.refine"),
        (["sparsity=srste", "sparsity.nm=2:7", "recovery.steps=5", "data=beir", f"data.path={TINY}"], "sparsity.nm"),
        (
            ["sparsity=srste", "sparsity.include=[nomatch]", "recovery.steps=5", "data=beir", f"data.path={TINY}"],
            "sparsity.include",
        ),
        (["sparsity=imp", "recovery.steps=301"], "recovery.steps"),
        (["sparsity=imp"], "recovery.steps"),
        (["sparsity=imp", "sparsity.rewind_step=100"], "sparsity.rewind_step"),
        (["sparsity=imp", "sparsity.criterion=random"], "sparsity.criterion"),
        (["sparsity=imp", "sparsity.structure=nm"], "sparsity.structure"),
        (["sparsity=srste"], "recovery.steps"),
        (["sparsity=srste", "sparsity.structure=unstructured"], "sparsity.structure"),
        (["sparsity=srste", "sparsity.decay=cosine"], "sparsity.decay"),
        (["sparsity.refine=dsnot"], "data"),
        (["sparsity.refine=dsnot", "sparsity.allocation=global"], "sparsity.refine"),
        (["sparsity=gradual", "sparsity.structure=nm", "recovery.steps=2000"], "sparsity.structure"),
        (["sparsity=gradual", "sparsity.criterion=random", "recovery.steps=2000"], "sparsity.criterion"),
        (["recovery.steps=10"], "data"),
        (["sparsity=gradual", "sparsity.criterion=wanda", "recovery.steps=2000"], "sparsity.criterion"),
        (["sparsity.structure=nm", "sparsity.nm=3:2"], "sparsity.nm"),
        (["sparsity.structure=nm", "sparsity.nm=4:4"], "sparsity.nm"),  # keeps every weight
        (["sparsity.allocation=layers", "++sparsity.per_layer={nomatch: 0.3}"], "sparsity.per_layer.nomatch"),
        (["sparsity.structure=nm", "sparsity.sparsity=0.9"], "sparsity.sparsity"),  # 2:4 is 0.5
        (["sparsity=srste", "recovery.steps=10", "sparsity.sparsity=0.9"], "sparsity.sparsity"),
        (["sparsity.sparsity=1.5"], "sparsity.sparsity"),
        (["sparsity.structure=nm", "sparsity.allocation=erk"], "sparsity.allocation"),
        (["sparsity.structure=rows", "sparsity.allocation=global"], "sparsity.allocation"),
        (["sparsity.criterion=sparsegpt", "sparsity.structure=block"], "sparsity.structure"),
        (["sparsity.criterion=sparsegpt", "sparsity.refine=dsnot"], "sparsity.refine"),
        (["sparsity.refine=dsnot", "sparsity.structure=rows"], "sparsity.refine"),
        (['sparsity.include=["("]'], "sparsity.include"),
        (["sparsity.include=[nothing_matches]"], "sparsity.include"),
    ],
)
def test_settings_that_cannot_work_are_one_line(sparse, tiny_bert, args, where):
    result = sparse("prune", f"checkpoint={tiny_bert}", *args)
    assert result.exit_code != 0
    assert where in error_line(result)


def test_a_truncated_weights_file_is_one_line_exit_3(sparse, tiny_bert, runs, tmp_path):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_bert, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    result = sparse("prune", f"checkpoint={damaged}")
    assert result.exit_code == 3 and error_line(result) == (
        f"error: checkpoint {damaged}: the weights file cannot be read (Error while deserializing header: "
        "invalid header length); replace it with an intact copy: download it again, or delete the run and rerun "
        "the command that wrote it"
    )
    assert not list(runs.glob("prune/*/model.safetensors"))


def test_a_checkpoint_that_is_not_one_is_named_with_prunes_own_settings(sparse, runs, tmp_path, monkeypatch, tiny_bert):
    import huggingface_hub

    (tmp_path / "empty").mkdir()
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "model.json").write_text('{\n  "n_items": 3,\n  "bad\n')
    for checkpoint, line in (
        ("", "error: checkpoint: missing: which model to prune; pass checkpoint=<hub id, model folder or run>"),
        (f"{tmp_path / 'empty'}", f"error: checkpoint: {tmp_path / 'empty'} holds neither a Hugging Face checkpoint "
                                  "(config.json) nor a saved recommender (model.json); pass a model folder, a "
                                  "train-rec or prune run directory, or a hub id"),
        (f"{tmp_path / 'damaged'}", f"error: {tmp_path / 'damaged' / 'model.json'}:3: not valid JSON (Invalid control "
                                    "character at); restore it: rerun the command that wrote it, with "
                                    "runtime.force=true"),
    ):  # fmt: skip
        result = sparse("prune", f"checkpoint={checkpoint}")
        assert result.exit_code in (2, 3) and error_line(result) == line
    swept = sparse("prune", "-m", f"checkpoint={tiny_bert},{tmp_path / 'nope'}")  # refused before job 0 runs
    assert swept.exit_code == 3 and error_line(swept) == (
        f"error: checkpoint: {tmp_path / 'nope'} is not a folder; pass checkpoint=<existing model folder> or a hub id"
    )
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    offline = error_line(sparse("prune", "checkpoint=org/not-cached"))
    assert offline.endswith("or run once with network access (later runs offline use the Hugging Face cache)")
    assert "encoder." not in offline  # prune has no encoder settings
    assert not list(runs.glob("prune/*"))


def test_same_seed_same_bytes(sparse, tiny_bert):
    args = ["sparsity.criterion=random", "seed=3"]
    first = prune(sparse, tiny_bert, *args)
    before = [(first / name).read_bytes() for name in BYTES]
    again = prune(sparse, tiny_bert, *args, "runtime.force=true")
    assert again == first and [(again / name).read_bytes() for name in BYTES] == before


def test_calibration_leaves_padding_out_and_refuses_a_layer_that_never_runs(tiny_bert):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from sparsecli.errors import InputError
    from sparsecli.sparsity import engine, layers

    model = AutoModelForMaskedLM.from_pretrained(tiny_bert).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["index maps words", "a much longer text that needs many more tokens than the first one"]
    target = {"q": model.bert.encoder.layer[0].attention.self.query}
    padded = engine.gather(model, target, [dict(tokenizer(texts, padding=True, return_tensors="pt"))], False)
    alone = engine.gather(model, target, [dict(tokenizer([t], return_tensors="pt")) for t in texts], False)
    assert padded["q"].tokens == alone["q"].tokens == sum(len(tokenizer(t)["input_ids"]) for t in texts)
    assert torch.allclose(padded["q"].sq_norms, alone["q"].sq_norms, rtol=1e-4)
    unused = {"head": torch.nn.Linear(32, 32)}  # not part of the model: never runs
    with pytest.raises(InputError, match="never ran"):
        engine.gather(model, unused, [dict(tokenizer(texts[:1], return_tensors="pt"))], False)
    # a Linear tied to an embedding (DistilBERT's vocab_projector) is never a target
    model.vocab_projector = torch.nn.Linear(32, model.config.vocab_size, bias=False)
    model.vocab_projector.weight = model.bert.embeddings.word_embeddings.weight
    assert "vocab_projector" not in layers.targets(model)
