"""`sparse train-rec`: train and evaluate a sequential recommender, full ranking over all items.

    sparse train-rec data=ml-100k model=sasrec data_root=../shared/data         # CE loss
    sparse train-rec data=p5-beauty model=sasrec loss=gbce data_root=../shared/data
    sparse train-rec data=ml-100k model=ease data_root=../shared/data           # closed form
    sparse train-rec data=ml-100k model=sasrec trainer=baby data_root=../shared/data  # a minute on a laptop
    sparse train-rec data=ml-100k model=sasrec init=runs/prune/<key> trainer.max_epochs=0 ...  # evaluate a pruned model
    sparse eval search_run=runs/train-rec/<key> eval=rec                       # the same figures via ir-measures
    torchrun --standalone --nproc_per_node=2 -m sparsecli train-rec data=ml-100k model=sasrec ...  # data-parallel

Writes model.safetensors (+ model.json, items.tsv), metrics.json, train_log.jsonl, dataset.json,
and test/ and valid/ (run.trec.gz: top items per user; qrels.txt: the held-out item).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from sparsecli.commands import Command
from sparsecli.recommend.config import RankingConfig, TrainerConfig
from sparsecli.recommend.data.config import RecDataConfig
from sparsecli.recommend.losses import LossConfig
from sparsecli.recommend.models.config import ModelConfig
from sparsecli.schema import MISSING, CommonConfig, late_field, path_field
from sparsecli.sparsity.config import SparsityConfig

TAG = "sparsecli"


@dataclass
class TrainRecJob(CommonConfig):
    data: RecDataConfig = MISSING  # an interaction dataset: ml-100k, p5-beauty, diginetica, ...
    model: ModelConfig = MISSING  # sasrec, gru4rec, bert4rec, popularity, ease
    loss: LossConfig = MISSING  # ce, sampled_softmax, bce, gbce, bpr (neural models)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    rank: RankingConfig = field(default_factory=RankingConfig)
    # A train-rec or prune run directory to start from (same model settings and data): its
    # weights, and its masks kept applied through training; trainer.max_epochs=0 evaluates it.
    init: Optional[str] = path_field(None)
    # Sparse training (the `sparsity` group, shared with `sparse prune`): rigl, set, dsl
    # (constant-budget drop and grow), gradual (magnitude pruning during training), srste (N:M),
    # oneshot (a fixed mask from the start). None: dense.
    sparsity: Optional[SparsityConfig] = late_field(None)


def inputs(conf: TrainRecJob) -> dict:
    from sparsecli.io.checksum import fingerprint
    from sparsecli.recommend.data.read import input_files

    found = {path.name: fingerprint(path) for path in input_files(conf.data, conf.data_root)}
    if conf.data.format.value == "hf" and not (conf.data.path and Path(conf.data.path).exists()):
        found["hub"] = {"id": conf.data.path, "split": conf.data.hf_split}  # a hub dataset: by its id
    return {"data": found}


def check(conf: TrainRecJob) -> None:
    """What can be checked before the data is read: the device, the loss, the monitored metric."""
    from sparsecli.errors import ConfigError
    from sparsecli.schema import OPTIONS

    if conf.trainer.device not in ("auto", "cpu"):
        import torch

        kind = conf.trainer.device.split(":")[0]
        if (kind == "cuda" and not torch.cuda.is_available()) or (
            kind == "mps" and not torch.backends.mps.is_available()
        ):
            raise ConfigError(
                f"{conf.trainer.device} is not available here", where="trainer.device", fix="pass auto or cpu"
            )
    for group in ("model", "loss"):
        chosen = getattr(conf, group)
        if chosen is not None and OPTIONS[group].get(chosen.name) is not type(chosen):
            raise ConfigError(
                f"{group}.name={chosen.name} does not name the chosen {group}",
                where=f"{group}.name",
                fix=f"choose the {group} with {group}=<option> and leave {group}.name alone",
            )
    if conf.trainer.max_epochs == 0 and conf.init is None and conf.model.neural:
        raise ConfigError(
            "trainer.max_epochs=0 would rank with untrained weights",
            where="trainer.max_epochs",
            fix="pass init=<train-rec or prune run>, or max_epochs >= 1",
        )
    if conf.init is not None and not conf.model.neural:
        raise ConfigError(
            f"model={conf.model.name} is fitted in closed form, not from saved weights",
            where="init",
            fix="drop init, or choose a neural model",
        )
    if conf.init is not None:  # before the data is read
        from pathlib import Path

        from sparsecli.errors import UpstreamError
        from sparsecli.runs.rundir import check_if_run

        if not Path(conf.init).is_dir():
            raise UpstreamError(
                f"{conf.init} is not a folder", where="init", fix="pass a train-rec or prune run directory"
            )
        check_if_run(conf.init, "init")
        from sparsecli.recommend.saved import check_settings

        check_settings(conf.init, conf.model, "init")  # a neural model: refused above otherwise
    if conf.sparsity is not None:
        from sparsecli.sparsity.config import criterion_needs_calibration

        for wrong, where, message, fix in (
            (
                not conf.model.neural,
                "sparsity",
                f"model={conf.model.name} has no trained weights to sparsify",
                "drop sparsity=",
            ),
            (
                conf.sparsity.name == "imp",
                "sparsity",
                "iterative pruning rewinds across rounds, which train-rec's checkpoints do not hold",
                "pass sparsity=gradual, rigl, set or dsl",
            ),
            (
                criterion_needs_calibration(conf.sparsity),
                "sparsity.criterion",
                f"{conf.sparsity.criterion.value} reads calibration text, which recommenders do not have",
                "pass sparsity.criterion=magnitude or random",
            ),
            (
                conf.sparsity.structure.value in ("heads", "rows"),
                "sparsity.structure",
                "training would grow pruned neurons' biases back",
                "pass sparsity.structure=unstructured, nm or block",
            ),
        ):
            if wrong:
                raise ConfigError(message, where=where, fix=fix)
    if conf.loss is None and conf.model.neural:
        raise ConfigError(f"model={conf.model.name} needs a loss", where="loss", fix="pass loss=ce (or gbce, bce, ...)")
    if conf.trainer.monitor not in conf.rank.measures():
        raise ConfigError(
            f"{conf.trainer.monitor!r} is not a validation metric here",
            where="trainer.monitor",
            fix=f"pass one of {', '.join(conf.rank.measures())}",
        )


def body(run, conf: TrainRecJob) -> None:
    import logging

    import torch

    from sparsecli import ui
    from sparsecli.errors import ConfigError
    from sparsecli.io.files import remove_path
    from sparsecli.kernels import set_threads
    from sparsecli.recommend import data as rec_data
    from sparsecli.recommend import export, ranking, saved, train
    from sparsecli.runs.rundir import WORK
    from sparsecli.sparsity import engine, layers, masks, training

    log = logging.getLogger("sparsecli")
    ranks = run.world
    # Byte-identical results hold for one device and one thread count: BLAS sums in another order otherwise.
    threads = conf.runtime.threads
    if ranks.size > 1 and threads == 0:  # torchrun: the machine's cores shared out among its ranks
        from sparsecli.runs.world import cores

        threads = max(1, cores() // ranks.local_size)
    threads = set_threads(threads)
    torch.set_num_threads(threads)
    run.uses_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    with run.timer("data"):
        data = rec_data.load(conf.data, conf.data_root)
    stats = data.stats
    n_items = len(data.items)
    log.info(
        "data=%s: %d users, %d items, %d interactions (%s); %d valid and %d test users%s",
        conf.data.name, stats["kept"]["users"], n_items, stats["kept"]["interactions"], stats["time"],
        stats["valid_users"], stats["test_users"],
        "".join(f"; not evaluated: {n} ({why})" for why, n in stats["not_evaluated"].items()),
    )  # fmt: skip
    if conf.rank.sampled_negatives >= n_items:
        raise ConfigError(
            f"cannot sample {conf.rank.sampled_negatives} negatives from {n_items - 1} other items",
            where="rank.sampled_negatives",
            fix=f"pass fewer than {n_items}, or 0 for full ranking only",
        )
    repeats = int(ranking.history_hits(data.split.test.inputs, data.split.test.targets).sum())
    if repeats:
        stats["test_targets_in_history"] = repeats
        log.warning(
            "%d of %d test users have their target in their own history%s",
            repeats, len(data.split.test.targets),
            ": rank.mask_history=true makes them misses (pass rank.mask_history=false where repeats count, "
            "or drop repeats with data.filter.dedup=first)"
            if conf.rank.mask_history else "",
        )  # fmt: skip
    features = None
    if conf.model.metadata:
        from sparsecli.recommend.models import features as item_features

        features = item_features.encode(data.item_meta, conf.model.fields, n_items)
        log.info(
            "item metadata: %s",
            ", ".join(f"{n} ({v - 1} values)" for n, v in zip(features.names, features.vocab)),
        )
    torch.manual_seed(conf.seed)
    model = conf.model.build(n_items, features, data.split.train)
    device = conf.trainer.torch_device()
    if ranks.size > 1 and device.type == "cuda" and torch.cuda.device_count() < ranks.local_size:
        raise ConfigError(  # NCCL refuses two ranks on one GPU
            f"{ranks.local_size} ranks on this machine, and {torch.cuda.device_count()} GPUs",
            where="torchrun",
            fix="pass --nproc_per_node of at most the GPUs, or trainer.device=cpu",
        )
    work = run.path / WORK
    work.mkdir(exist_ok=True)
    trained = None
    kept, control = {}, None
    if conf.init is not None:
        start = saved.load(conf.init, "init")
        saved.check_fits(start, conf.init, conf.model, data.items, "init")
        if features is not None and start.info.get("features") != features.spec():
            raise ConfigError(
                "the saved model's item metadata has other values or fields than this data's",
                where="init",
                fix="pass the data (and its metadata files) it was trained on",
            )
        model.load_state_dict(start.model.state_dict())
        kept = start.masks
        if kept and conf.sparsity is not None:
            raise ConfigError(
                f"init={conf.init} is pruned already, and its masks are held fixed",
                where="sparsity",
                fix="drop sparsity= to fine-tune it as pruned, or start from a dense run",
            )
        if kept:  # a pruned model stays pruned: its zeros are restored after every step
            control = training.Fixed({name: layers.find(model, name) for name in kept}, kept)
        log.info("init=%s: %s weights", conf.init, f"pruned ({len(kept)} layers)" if kept else "dense")
    if conf.sparsity is not None and conf.trainer.max_epochs > 0:  # from scratch, or a dense init
        planned = train.planned_steps(model, data.split.train, conf.trainer, ranks.size)
        control = engine.controller(
            model, conf.sparsity, planned, torch.Generator().manual_seed(conf.seed), steps_field="trainer.max_epochs"
        )
        census = control.census()
        log.info(
            "sparsity=%s: %d target layers, %d of their %d weights pruned at the start; %d steps planned",
            conf.sparsity.name, len(control.modules), census["pruned"], census["params"], planned,
        )  # fmt: skip
    with run.timer("train"):
        if model.neural and conf.trainer.max_epochs == 0:
            log.info("trainer.max_epochs=0: evaluating the initial weights")
        elif model.neural:
            trained = train.fit(
                model, data, conf.loss, conf.trainer, conf.rank, conf.seed, work, ui.progress, control=control,
                after_epoch=lambda epoch: run.checkpoint(epoch, conf.trainer.max_epochs, "epochs"), world=ranks,
            )  # fmt: skip
            if ranks.size > 1:
                log.info("rank %d of %d: effective batch %d (%d a rank)", ranks.rank, ranks.size,
                         conf.trainer.batch_size * ranks.size, conf.trainer.batch_size)  # fmt: skip
        else:
            model.to(device).fit(data.split.train)
    if not run.leader:  # rank 0 ranks, evaluates and writes
        return
    if control is not None:
        kept = control.finish()  # the best validation's masks (train.fit), applied: what is ranked and saved
    model.to(device).eval()
    counts = data.split.train.item_counts(n_items)
    results: dict = {
        "protocol": {
            "ranking": "full",
            "items": n_items,
            "mask_history": conf.rank.mask_history,
            "ties": "pessimistic",
            "top": conf.rank.top,
        }
    }
    ranked_splits = {}
    for name in ("valid", "test"):
        targets = getattr(data.split, name)
        with run.timer(f"rank_{name}"):
            with ui.progress(f"rank {name}", len(targets.targets), "users") as bar:
                ranked_splits[name] = ranking.full_ranking(
                    model.scorer(), targets, n_items, conf.rank, device, bar.advance
                )
        results[name] = ranking.report(ranked_splits[name], targets, counts, conf.rank)
        if conf.rank.sampled_negatives:
            results[f"{name}_sampled"] = ranking.sampled(model.scorer(), targets, n_items, conf.rank, conf.seed, device)
    if trained is not None:
        results["training"] = {k: v for k, v in trained._asdict().items() if k != "log"}
        if ranks.size > 1:  # torchrun: data-parallel over this many processes
            results["training"]["processes"] = ranks.size
            results["training"]["effective_batch_size"] = conf.trainer.batch_size * ranks.size
        results["training"]["flops_per_step"] = _flops(model, data, conf, control)
    if control is not None:
        census = control.census()
        model_params = sum(p.numel() for p in model.parameters())
        results["sparsity"] = {
            "schedule": conf.sparsity.name if conf.sparsity is not None else "init",
            "model_params": model_params,
            "active_params": model_params - census["pruned"],
            "target_params": census["params"],
            "pruned": census["pruned"],
            "density": census["density"],
            "schedule_log": control.log,
        }
    with run.timer("write"):
        for name, ranked in ranked_splits.items():
            with run.writing(name) as tmp:
                export.write_split(tmp, ranked, getattr(data.split, name), data.users, data.items, TAG)
        with run.writing("model.safetensors") as tmp:
            train.save_weights(tmp, model)
        saved.write_info(run, conf.model, n_items, {"features": features.spec()} if features else None)
        if kept:
            with run.writing(saved.MASKS) as tmp:
                masks.save(tmp, kept)
        with run.writing(saved.ITEMS) as tmp:
            saved.write_items(tmp, data.items)
        run.write_json("dataset.json", stats)
        if trained is not None:
            # loss and metrics per epoch, and its timings: the one artifact not byte-identical across runs
            with run.writing(train.LOG) as tmp:
                tmp.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in trained.log), encoding="utf-8")
        run.write_json("metrics.json", results)
    remove_path(work)  # checkpoints: only an interrupted run needs them
    k = conf.rank.headline()
    for name in ("valid", "test"):
        r = results[name]
        log.info(
            "%s (%d users, full ranking): NDCG@%d %.4f, HR@%d %.4f, MRR@%d %.4f",
            name, r["users"], k, r[f"NDCG@{k}"], k, r[f"HR@{k}"], k, r[f"MRR@{k}"],
        )  # fmt: skip


def _flops(model, data, conf: TrainRecJob, control) -> dict:
    """Training FLOPs per step, dense and sparse (RigL's accounting, sparsity/flops.py); wall
    time per step is in train_log.jsonl (steps_per_s), kept out of this deterministic file."""
    from sparsecli.recommend import train
    from sparsecli.sparsity.training import SRSTE, Dynamic

    counted = train.step_flops(model, data, conf.loss, conf.trainer, control)
    sparse = counted.sparse
    if isinstance(control, SRSTE):  # the straight-through estimator needs every weight's gradient
        sparse += counted.weight_gradient
    out = {"dense": counted.dense, "sparse": sparse, "batch_size": conf.trainer.batch_size}
    if isinstance(control, Dynamic) and control.grow == "gradient":
        # RigL/DSL take the dense gradient at each update step (every update_frequency steps
        # until step `end`): one more weight-gradient pass
        out["sparse_update_step"] = sparse + counted.weight_gradient
        out["update_frequency"], out["updates_end"] = control.update_frequency, control.end
    return out


def show(run) -> None:
    from sparsecli import ui

    results = json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))
    names = [m for m in results["test"] if m.split("@")[0] in ("NDCG", "HR", "MRR")]
    rows = [
        [split, str(results[split]["users"]), *(f"{results[split][m]:.4f}" for m in names)]
        for split in ("valid", "test")
    ]
    ui.table("train-rec (full ranking)", ["split", "users", *names], rows)


def summary(run) -> dict:
    results = json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))
    return {f"test {m}": v for m, v in results["test"].items() if m.split("@")[0] in ("NDCG", "HR", "MRR")}


COMMAND = Command(
    name="train-rec",
    help="Train and evaluate a sequential recommender with full ranking (data=, model=, loss=).",
    order=50,
    schema=TrainRecJob,
    body=body,
    groups=("data", "model", "loss", "trainer", "sparsity", "experiment"),
    inputs=inputs,
    check=check,
    show=show,
    summary=summary,
    help_overrides=("data=ml-100k", "model=sasrec"),
    torchrun="data_parallel",
    threads_change_bytes=True,
)
