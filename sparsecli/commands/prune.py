"""`sparse prune`: prune a Hugging Face model's Linear layers once, and write it back as a
normal checkpoint folder that `sparse encode` reads like any other.

    sparse prune checkpoint=../shared/models/splade-tiny sparsity.sparsity=0.5             # magnitude
    sparse prune checkpoint=../shared/models/splade-tiny data=scifact data_root=../shared/data \\
        sparsity.criterion=wanda                                                     # calibrated
    sparse prune checkpoint=<folder> data=scifact sparsity.criterion=sparsegpt sparsity.structure=nm
    sparse encode data=scifact encoder=splade encoder.model=runs/prune/<key>         # use it

The run directory is itself the checkpoint: config.json, model.safetensors (zeros in place,
no masks or `weight_orig` inside; loads strictly), the tokenizer's files, masks.safetensors
(one bitmask per pruned layer, numpy.packbits) and report.json (sparsity per layer and in
total, N:M validity, parameters, FLOPs per token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from sparsecli.commands import Command
from sparsecli.data.config import DataConfig
from sparsecli.schema import MISSING, CommonConfig, check, path_field
from sparsecli.sparsity.config import SparsityConfig, criterion_needs_calibration


@dataclass
class CalibrationConfig:
    """Documents of the collection (data=) that Wanda's and SparseGPT's statistics are taken on."""

    n_samples: int = 128  # Wanda's and SparseGPT's 128 calibration sequences
    seq_len: int = 256  # tokens per sample: the document length SPLADE encodes
    batch_size: int = 16
    seed: int = 0  # which documents are drawn (uniformly, in one pass)

    def __post_init__(self) -> None:
        for name in ("n_samples", "seq_len", "batch_size"):
            check(getattr(self, name) >= 1, f"calibration.{name}", "must be >= 1", f"pass e.g. calibration.{name}=16")


@dataclass
class PruneJob(CommonConfig):
    checkpoint: str = path_field(MISSING)  # a hub id, or a folder with config.json, weights and tokenizer
    revision: Optional[str] = None  # a hub branch, tag or commit
    data: Optional[DataConfig] = None  # the collection calibration documents come from (wanda, sparsegpt)
    sparsity: SparsityConfig = MISSING  # oneshot (gradual and rigl run inside training)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    trust_remote_code: bool = False  # run code shipped with a hub model: only when you trust it


def inputs(conf: PruneJob) -> dict:
    if conf.data is None:
        return {}
    from sparsecli.data.source import source_fingerprint

    return {"data": source_fingerprint(conf.data, conf.data_root)}


def check_job(conf: PruneJob) -> None:
    from sparsecli.errors import ConfigError

    if conf.sparsity.name != "oneshot":
        raise ConfigError(
            f"sparsity={conf.sparsity.name} prunes during training",
            where="sparsity",
            fix="pass sparsity=oneshot here; gradual and rigl schedules run inside `sparse train-rec`",
        )
    if criterion_needs_calibration(conf.sparsity) and conf.data is None:
        raise ConfigError(
            f"criterion {conf.sparsity.criterion.value} needs calibration documents",
            where="data",
            fix="pass data=<collection>, e.g. data=scifact data_root=../shared/data",
        )


def calibration_texts(conf: PruneJob) -> list[str]:
    """n_samples documents drawn uniformly from the collection's non-empty ones in one pass
    (reservoir sampling, Vitter's algorithm R, seeded), in collection order; title and text joined."""
    import numpy as np

    from sparsecli.data.source import open_source

    rng = np.random.default_rng(conf.calibration.seed)
    chosen: list[tuple[int, str]] = []
    size, seen = conf.calibration.n_samples, 0
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


def calibration_batches(conf: PruneJob, tokenizer, model) -> list[dict]:
    """The calibration documents as model inputs, truncated to seq_len (and to the model's
    positions); without a pad token (GPT-2) one document a batch, so nothing is padded."""
    from sparsecli.errors import InputError

    texts = calibration_texts(conf)
    if not texts:
        raise InputError("the collection has no text to calibrate on", where="data", fix="choose another data=")
    limit = getattr(model.config, "max_position_embeddings", None)
    length = min(conf.calibration.seq_len, limit) if limit else conf.calibration.seq_len
    size = conf.calibration.batch_size if tokenizer.pad_token is not None else 1
    return [
        dict(tokenizer(texts[i : i + size], truncation=True, max_length=length, padding=size > 1, return_tensors="pt"))
        for i in range(0, len(texts), size)
    ]


def body(run, conf: PruneJob) -> None:
    import json
    import logging
    import os

    import torch
    from safetensors.torch import save_file

    from sparsecli import ui
    from sparsecli.encode.lsr.config import Device, DType
    from sparsecli.encode.lsr.hf import LoadOptions, available, load_model_and_extra, load_tokenizer, model_kind
    from sparsecli.io.files import remove_path
    from sparsecli.kernels import set_threads
    from sparsecli.runs.rundir import WORK
    from sparsecli.schema import as_dict
    from sparsecli.sparsity import engine, masks

    log = logging.getLogger("sparsecli")
    threads = set_threads(conf.runtime.threads)
    torch.set_num_threads(threads)
    run.uses_threads(threads)
    options = available(
        conf.checkpoint, LoadOptions(conf.revision, DType.fp32, Device.cpu, False, conf.trust_remote_code), "checkpoint"
    )
    with run.timer("load"):
        tokenizer = load_tokenizer(conf.checkpoint, options)
        kind = model_kind(conf.checkpoint, options, "checkpoint")
        model, extra = load_model_and_extra(conf.checkpoint, kind, options, "checkpoint")
    batches = None
    if criterion_needs_calibration(conf.sparsity):
        with run.timer("calibration_data"):
            batches = calibration_batches(conf, tokenizer, model)
        tokens = sum(
            int(b["attention_mask"].sum()) if "attention_mask" in b else b["input_ids"].numel() for b in batches
        )
        log.info("calibration: %d documents, %d tokens", sum(len(b["input_ids"]) for b in batches), tokens)
    model_params = sum(p.numel() for p in model.parameters())
    with run.timer("prune"):
        with ui.progress("prune", None, "layers") as bar:
            result = engine.prune_model(
                model,
                conf.sparsity,
                batches,
                torch.Generator().manual_seed(conf.seed),
                progress=lambda _: bar.advance(),
            )
    work = run.path / WORK
    remove_path(work)
    with run.timer("write"):
        model.save_pretrained(work / "export", safe_serialization=True)
        tokenizer.save_pretrained(work / "export")
        _keep_extra_tensors(conf.checkpoint, extra, work / "export" / "model.safetensors")
        for item in sorted((work / "export").iterdir()):
            with run.writing(item.name) as tmp:
                os.replace(item, tmp)
        shapes = {name: list(keep.shape) for name, keep in result.masks.items()}
        with run.writing("masks.safetensors") as tmp:
            save_file(
                masks.pack(result.masks),
                str(tmp),
                metadata={"shapes": json.dumps(shapes, sort_keys=True), "layout": "[out, in]"},
            )
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
            },
        )
    remove_path(work)
    worst = max(result.report, key=lambda r: r.sparsity)
    log.info(
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
    help="Prune a model's Linear layers once (sparsity=oneshot) and save it as a checkpoint folder.",
    order=60,
    schema=PruneJob,
    body=body,
    groups=("sparsity", "data"),
    inputs=inputs,
    check=check_job,
    show=show,
    summary=summary,
    help_overrides=("checkpoint=x",),
)
