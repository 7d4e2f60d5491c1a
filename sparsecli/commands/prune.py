"""`sparse prune`: prune a Hugging Face model's Linear layers once, and write it back as a
normal checkpoint folder that `sparse encode` reads like any other.

    sparse prune checkpoint=../shared/models/splade-tiny sparsity.sparsity=0.5             # magnitude
    sparse prune checkpoint=../shared/models/splade-tiny data=scifact data_root=../shared/data \\
        sparsity.criterion=wanda                                                     # calibrated
    sparse prune checkpoint=<folder> data=scifact sparsity.criterion=sparsegpt sparsity.structure=nm
    sparse encode data=scifact encoder=splade encoder.model=runs/prune/<key>         # use it
    sparse prune checkpoint=runs/train-rec/<key> sparsity.sparsity=0.5               # a recommender
    sparse train-rec data=... model=... init=runs/prune/<key> trainer.max_epochs=0    # rank with it

The run directory is itself the checkpoint: config.json, model.safetensors (zeros in place,
no masks or `weight_orig` inside; loads strictly), the tokenizer's files, masks.safetensors
(one bitmask per pruned layer, numpy.packbits), report.json (sparsity per layer and in
total, N:M validity, parameters, FLOPs per token) and, with csr=true, csr.safetensors. A train-rec run as the checkpoint gives
a recommender folder instead (recommend/saved.py: model.json, model.safetensors, items.tsv,
masks.safetensors, report.json), which `sparse train-rec init=` ranks and fine-tunes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sparsecli.commands import Command
from sparsecli.data.config import DataConfig
from sparsecli.schema import MISSING, CommonConfig, check, path_field
from sparsecli.sparsity.config import SparsityConfig, criterion_needs_calibration


CSR = "csr.safetensors"


@dataclass
class CalibrationConfig:
    """Documents of the collection (data=) that Wanda's, SparseGPT's and DSnoT's statistics are taken on."""

    n_samples: int = 128  # Wanda's and SparseGPT's 128 calibration sequences
    seq_len: int = 256  # tokens per sample: the document length SPLADE encodes
    batch_size: int = 16
    seed: int = 0  # which documents are drawn (uniformly, in one pass)

    def __post_init__(self) -> None:
        for name in ("n_samples", "seq_len", "batch_size"):
            check(getattr(self, name) >= 1, f"calibration.{name}", "must be >= 1", f"pass e.g. calibration.{name}=16")


@dataclass
class RecoveryConfig:
    """Self-distillation from the dense model on documents of the collection (data=), no labels
    (sparsity/recovery.py). With sparsity=gradual, pruning runs inside these steps."""

    steps: int = 0  # AdamW steps; 0 = none
    lr: float = 5e-5  # a fine-tuning rate: the student starts at the teacher
    n_docs: int = 1024  # documents drawn uniformly (seeded by recovery.seed)
    seq_len: int = 128
    batch_size: int = 8
    seed: int = 1  # another draw than the calibration documents'

    def __post_init__(self) -> None:
        check(self.steps >= 0, "recovery.steps", "must be >= 0", "pass 0 (none) or e.g. 300")
        check(self.lr > 0, "recovery.lr", "must be > 0", "pass e.g. 5e-5")
        for name in ("n_docs", "seq_len", "batch_size"):
            check(getattr(self, name) >= 1, f"recovery.{name}", "must be >= 1", f"pass e.g. recovery.{name}=8")


@dataclass
class PruneJob(CommonConfig):
    # a hub id, a folder with config.json, weights and tokenizer, or a train-rec run directory
    checkpoint: str = path_field(MISSING)
    revision: Optional[str] = None  # a hub branch, tag or commit
    # the collection whose documents calibrate (wanda, sparsegpt, refine=dsnot) and recover
    data: Optional[DataConfig] = None
    # oneshot; with recovery.steps also gradual, imp, srste, and rigl, set, dsl (distilled drop and grow)
    sparsity: SparsityConfig = MISSING
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    trust_remote_code: bool = False  # run code shipped with a hub model: only when you trust it
    # Also write csr.safetensors: the pruned layers as CSR matrices (sparsity/csr.py), which
    # csr.swap_in puts into a loaded model for CPU inference; worth it from about 80% sparsity.
    csr: bool = False


def inputs(conf: PruneJob) -> dict:
    if conf.data is None:
        return {}
    from sparsecli.data.source import source_fingerprint

    return {"data": source_fingerprint(conf.data, conf.data_root)}


def check_job(conf: PruneJob) -> None:
    from pathlib import Path

    from sparsecli.errors import ConfigError, InputError

    from sparsecli.encode.lsr.hf import check_local
    from sparsecli.recommend.saved import is_recommender
    from sparsecli.runs.rundir import check_if_run
    from sparsecli.sparsity.config import Criterion, Refine, Structure

    if not conf.checkpoint.strip():
        raise ConfigError(
            "missing: which model to prune", where="checkpoint", fix="pass checkpoint=<hub id, model folder or run>"
        )
    check_local(conf.checkpoint, "checkpoint")  # before any job of a sweep runs
    check_if_run(conf.checkpoint, "checkpoint")
    folder = Path(conf.checkpoint).expanduser()
    if folder.is_dir() and not any((folder / f).is_file() for f in ("config.json", "model.json")):
        raise InputError(
            f"{conf.checkpoint} holds neither a Hugging Face checkpoint (config.json) nor a saved recommender "
            "(model.json)",
            where="checkpoint",
            fix="pass a model folder, a train-rec or prune run directory, or a hub id",
        )

    calibrated = criterion_needs_calibration(conf.sparsity)
    # which field asks for calibration: the criterion, or a refinement of a criterion that does not
    asker = (
        "sparsity.criterion" if conf.sparsity.criterion in (Criterion.wanda, Criterion.sparsegpt) else "sparsity.refine"
    )
    if is_recommender(conf.checkpoint):
        for wrong, where, why, fix in (
            (
                conf.recovery.steps,
                "recovery.steps",
                "a recommender recovers by training on its interactions, not by distilling on text",
                "fine-tune with `sparse train-rec init=<this prune run>`",
            ),
            (
                calibrated,
                asker,
                "a recommender has no calibration text",
                "pass sparsity.criterion=magnitude or random, and no sparsity.refine",
            ),
            (conf.csr, "csr", "the CSR export serves text encoders", "drop csr=true"),
            (
                conf.sparsity.name != "oneshot",
                "sparsity",
                "schedules that train run inside `sparse train-rec` for a recommender",
                "pass sparsity=oneshot here, or train-rec ... sparsity=<schedule>",
            ),
        ):
            if wrong:
                raise ConfigError(why, where=where, fix=fix)
    sp = conf.sparsity
    if conf.recovery.steps < sp.min_steps():
        raise ConfigError(
            f"sparsity={sp.name} trains while it prunes: it needs at least {sp.min_steps()} recovery steps",
            where="recovery.steps",
            fix=f"pass recovery.steps={max(sp.min_steps(), 100)} or more",
        )
    if sp.name == "gradual":
        if conf.sparsity.criterion != Criterion.magnitude or conf.sparsity.refine != Refine.none:
            # random scores redrawn at each update would not nest: pruned weights would come back
            raise ConfigError(
                "gradual pruning ranks the weights being trained by magnitude",
                where="sparsity.criterion" if conf.sparsity.criterion != Criterion.magnitude else "sparsity.refine",
                fix="pass sparsity.criterion=magnitude and no sparsity.refine",
            )
    if conf.recovery.steps and conf.sparsity.structure in (Structure.rows, Structure.heads):
        raise ConfigError(
            "recovery keeps pruned weights at zero, not the biases of pruned neurons or heads, which would train back",
            where="sparsity.structure",
            fix="recover an unstructured, N:M or block mask",
        )
    if conf.recovery.steps and conf.data is None:
        raise ConfigError("recovery distils on the collection's documents", where="data", fix="pass data=<collection>")
    if calibrated and conf.data is None:
        raise ConfigError(
            f"{asker}={getattr(conf.sparsity, asker.split('.')[1]).value} needs calibration documents",
            where="data",
            fix="pass data=<collection>, e.g. data=scifact data_root=../shared/data",
        )


def sample_texts(conf: PruneJob, size: int, seed: int) -> list[str]:
    """`size` documents drawn uniformly from the collection's non-empty ones in one pass
    (reservoir sampling, Vitter's algorithm R, seeded), in collection order; title and text joined."""
    import numpy as np

    from sparsecli.data.source import open_source

    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, str]] = []
    seen = 0
    for doc in open_source(conf.data, conf.data_root).docs():
        text = " ".join(part for part in (doc.title, doc.text) if part.strip())
        if not text:
            continue
        if len(chosen) < size:
            chosen.append((seen, text))
        else:
            slot = int(rng.integers(0, seen + 1))
            if slot < size:
                chosen[slot] = (seen, text)
        seen += 1
    return [text for _, text in sorted(chosen)]


def text_batches(conf: PruneJob, tokenizer, model, settings) -> list[dict]:
    """Documents drawn by `settings` (calibration or recovery: n_samples or n_docs, seq_len,
    batch_size, seed) as model inputs, truncated to seq_len (and to the model's positions);
    without a pad token (GPT-2) one document a batch, so nothing is padded."""
    from sparsecli.errors import InputError

    texts = sample_texts(conf, getattr(settings, "n_samples", getattr(settings, "n_docs", 0)), settings.seed)
    if not texts:
        raise InputError("the collection has no text to calibrate on", where="data", fix="choose another data=")
    limit = getattr(model.config, "max_position_embeddings", None)
    length = min(settings.seq_len, limit) if limit else settings.seq_len
    size = settings.batch_size if tokenizer.pad_token is not None else 1
    return [
        dict(tokenizer(texts[i : i + size], truncation=True, max_length=length, padding=size > 1, return_tensors="pt"))
        for i in range(0, len(texts), size)
    ]


def body(run, conf: PruneJob) -> None:
    import copy
    import logging
    import os

    import torch

    from sparsecli import ui
    from sparsecli.encode.lsr.config import Device, DType
    from sparsecli.encode.lsr.hf import LoadOptions, available, load_model_and_extra, load_tokenizer, model_kind
    from sparsecli.io.files import remove_path
    from sparsecli.kernels import set_threads
    from sparsecli.recommend import saved
    from sparsecli.runs.rundir import WORK
    from sparsecli.sparsity import engine

    log = logging.getLogger("sparsecli")
    threads = set_threads(conf.runtime.threads)
    torch.set_num_threads(threads)
    run.uses_threads(threads)
    if saved.is_recommender(conf.checkpoint):
        return _prune_recommender(run, conf)
    options = available(
        conf.checkpoint,
        LoadOptions(conf.revision, DType.fp32, Device.cpu, False, conf.trust_remote_code),
        "checkpoint",
        offline=None,  # prune has no local_files_only setting: it falls back to the cache itself
    )
    with run.timer("load"):
        tokenizer = load_tokenizer(conf.checkpoint, options, "checkpoint", offline=None)
        kind = model_kind(conf.checkpoint, options, "checkpoint")
        model, extra = load_model_and_extra(conf.checkpoint, kind, options, "checkpoint")
    batches = None
    if criterion_needs_calibration(conf.sparsity):
        with run.timer("calibration_data"):
            batches = text_batches(conf, tokenizer, model, conf.calibration)
        tokens = sum(
            int(b["attention_mask"].sum()) if "attention_mask" in b else b["input_ids"].numel() for b in batches
        )
        log.info("calibration: %d documents, %d tokens", sum(len(b["input_ids"]) for b in batches), tokens)
    model_params = sum(p.numel() for p in model.parameters())
    generator = torch.Generator().manual_seed(conf.seed)
    teacher = copy.deepcopy(model) if conf.recovery.steps else None
    result = None
    if conf.sparsity.name == "oneshot":
        with run.timer("prune"):
            with ui.progress("prune", None, "layers") as bar:
                result = engine.prune_model(model, conf.sparsity, batches, generator, progress=lambda _: bar.advance())
    recovered = schedule_log = None
    if conf.recovery.steps:
        with run.timer("recovery_data"):
            texts = text_batches(conf, tokenizer, model, conf.recovery)
        torch.manual_seed(conf.seed)  # dropout in the student
        with run.timer("recovery"):
            result, recovered, schedule_log = _recover(conf, model, teacher, texts, result, generator)
    work = run.path / WORK
    remove_path(work)
    with run.timer("write"):
        model.save_pretrained(work / "export", safe_serialization=True)
        tokenizer.save_pretrained(work / "export")
        _keep_extra_tensors(conf.checkpoint, extra, work / "export" / "model.safetensors")
        if conf.csr:
            from sparsecli.sparsity import csr

            csr.export({name: model.get_submodule(name) for name in result.masks}, result.masks, work / "export" / CSR)
        for item in sorted((work / "export").iterdir()):
            with run.writing(item.name) as tmp:
                os.replace(item, tmp)
        _write_masks_and_report(run, conf, result, model_params, recovered, schedule_log)
    remove_path(work)


def _recover(conf: PruneJob, model, teacher, batches, result, generator):
    """Self-distillation under the schedule's controller (sparsity/training.py): one-shot masks
    fixed, gradual pruning, iterative pruning with rewinding, or SR-STE's N:M. Returns (the
    engine's result for the final masks, recovery.Recovered, the controller's log)."""
    from sparsecli import ui
    from sparsecli.sparsity import engine, recovery

    sp = conf.sparsity
    control = engine.controller(model, sp, conf.recovery.steps, generator, result.masks if result else None)
    with ui.progress("recover", conf.recovery.steps, "steps") as bar:

        def advance(loss: float) -> None:
            bar.advance()
            bar.note(f"loss {loss:.3g}")

        recovered = recovery.distill(model, teacher, batches, conf.recovery.steps, conf.recovery.lr, control, advance)
    return engine.summarize(control.masks, control.modules, sp), recovered, control.log


def _prune_recommender(run, conf: PruneJob) -> None:
    """A train-rec run's model pruned (no calibration), written as a recommender folder."""
    import shutil

    import torch

    from sparsecli.recommend import saved, train
    from sparsecli.sparsity import engine

    with run.timer("load"):
        start = saved.load(conf.checkpoint, "checkpoint")
    model = start.model
    with run.timer("prune"):
        result = engine.prune_model(model, conf.sparsity, None, torch.Generator().manual_seed(conf.seed))
    with run.timer("write"):
        with run.writing(saved.WEIGHTS) as tmp:
            train.save_weights(tmp, model)
        extra = {"features": start.info["features"]} if "features" in start.info else None  # m2trec's tables
        saved.write_info(run, start.config, int(start.info["n_items"]), extra)
        with run.writing(saved.ITEMS) as tmp:
            shutil.copyfile(f"{conf.checkpoint}/{saved.ITEMS}", tmp)
        _write_masks_and_report(run, conf, result, sum(p.numel() for p in model.parameters()))


def _write_masks_and_report(run, conf: PruneJob, result, model_params: int, recovered=None, schedule_log=None) -> None:
    import logging

    from sparsecli.schema import as_dict
    from sparsecli.sparsity import masks

    with run.writing("masks.safetensors") as tmp:
        masks.save(tmp, result.masks)
    target_params = sum(r.params for r in result.report)
    kept = sum(r.kept for r in result.report)
    model_sparsity = (target_params - kept) / model_params
    run.write_json(
        "report.json",
        {
            "sparsity": as_dict(conf.sparsity),
            "target_layers": len(result.report),
            "target_params": target_params,
            "kept_params": kept,
            "sparsity_of_targets": result.sparsity,
            "sparsity_of_model": model_sparsity,
            "model_params": model_params,
            # a Linear layer does 2 FLOPs (multiply, add) per kept weight per token
            "linear_flops_per_token": {"dense": 2 * target_params, "pruned": 2 * kept},
            "layers": [r._asdict() for r in result.report],
            **(
                {"recovery": {**recovered._asdict(), "settings": as_dict(conf.recovery), "schedule_log": schedule_log}}
                if recovered
                else {}
            ),
        },
    )
    worst = max(result.report, key=lambda r: r.sparsity)
    logging.getLogger("sparsecli").info(
        "pruned %d layers to %.2f%% (model %.2f%%); most pruned: %s at %.2f%%",
        len(result.report), 100 * result.sparsity, 100 * model_sparsity, worst.name, 100 * worst.sparsity,
    )  # fmt: skip


def _keep_extra_tensors(name: str, keys: list, exported) -> None:
    """Copy checkpoint tensors the model class does not hold (a term-weight head) into the
    exported weights unchanged, so the pruned folder serves every encoder the original did."""
    from pathlib import Path

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    if not keys:
        return
    source = Path(name) / "model.safetensors"
    if not source.is_file():
        import logging

        # a hub id, a sharded or a .bin checkpoint: what the model class holds is exported, not these
        logging.getLogger("sparsecli").warning("not copied (no local model.safetensors): %s", ", ".join(keys))
        return
    tensors = load_file(str(exported))
    with safe_open(str(source), framework="pt") as handle:
        for key in keys:
            if key in handle.keys():
                tensors[key] = handle.get_tensor(key)
    save_file(tensors, str(exported), metadata={"format": "pt"})


def show(run) -> None:
    import json

    from sparsecli import ui

    report = json.loads((run.path / "report.json").read_text(encoding="utf-8"))
    rows = [
        [
            r["name"],
            "x".join(map(str, r["shape"])),
            f"{r['sparsity']:.2%}",
            "" if r["nm_valid"] is None else str(r["nm_valid"]),
        ]
        for r in report["layers"]
    ]
    rows.append([f"total ({report['target_params']:,} weights)", "", f"{report['sparsity_of_targets']:.2%}", ""])
    ui.table("prune (sparsity per layer)", ["layer", "shape", "sparsity", "N:M valid"], rows)


def summary(run) -> dict:
    import json

    report = json.loads((run.path / "report.json").read_text(encoding="utf-8"))
    return {"sparsity": report["sparsity_of_targets"], "model sparsity": report["sparsity_of_model"]}


COMMAND = Command(
    name="prune",
    help="Prune a model's Linear layers (once, or gradually while distilling) and save it as a checkpoint folder.",
    order=60,
    schema=PruneJob,
    body=body,
    groups=("sparsity", "data", "experiment"),
    inputs=inputs,
    check=check_job,
    show=show,
    summary=summary,
    help_overrides=("checkpoint=x",),
    threads_change_bytes=True,
)
