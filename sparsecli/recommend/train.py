"""Training neural next-item models: batches of windows, AdamW with warmup and a schedule,
validation by full ranking, early stopping, and checkpoints a run resumes from.

Determinism: every epoch reseeds torch's global generator (dropout) and its own sampling
generator (shuffling, negatives) from (seed, epoch), so an epoch's randomness does not
depend on what ran before it, and a run resumed from an epoch checkpoint continues with the
same bytes as an uninterrupted one. Checkpoints are safetensors (model, optimizer moments)
beside a JSON file of counters; nothing is pickled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np
import torch

from sparsecli.io.files import atomic_path
from sparsecli.recommend import ranking
from sparsecli.recommend.config import Precision, Schedule, TrainerConfig
from sparsecli.recommend.data.types import Dataset, Sequences
from sparsecli.recommend.losses import LossConfig, LossContext
from sparsecli.recommend.models.base import RecModel
from sparsecli.runs import world as world_ops
from sparsecli.runs.world import ALONE, World
from sparsecli.sparsity import flops
from sparsecli.sparsity.training import Controller

log = logging.getLogger("sparsecli")

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
# The best weights found since the last checkpoint: moved to BEST when the epoch's checkpoint is
# written, so BEST always matches the checkpoint's counters; a run resumed mid-epoch drops it.
PENDING = "best.pending.safetensors"
STATE = "state"  # the checkpoint metadata key holding the counters
LOG = "train_log.jsonl"
STOPS = (None, "max_wall_s", "patience")  # why training stopped, as rank 0 tells the other ranks
MASK = "mask/"  # sparse training's masks, beside the weights in the work folder's files


def windows(train: Sequences, length: int, stride: int) -> np.ndarray:
    """Training windows of at most `length` items, ending at each user's last training item
    and stepping back by `stride` (windows overlap by length - stride items, so with
    stride = length - 1 every next-item pair is in exactly one window). Users with fewer than
    2 items give none. int64 [w, 2]: (start, stop) into train.items."""
    out = []
    lengths = train.lengths()
    for user in np.flatnonzero(lengths >= 2):
        start, stop = int(train.indptr[user]), int(train.indptr[user + 1])
        while True:
            out.append((max(start, stop - length), stop))
            if stop - length <= start:
                break
            stop -= stride
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def window_batch(items: np.ndarray, spans: np.ndarray, length: int) -> torch.Tensor:
    """Windows as shifted item numbers, left-padded to the longest window of the batch (at
    most `length`): int64 [len(spans), <= length]. Trimming columns that are padding in every
    row changes nothing a model computes for real positions, and short-sequence data (Amazon
    Beauty: 9 items a user on average) trains several times faster."""
    from sparsecli.recommend.models.base import left_padded

    sizes = spans[:, 1] - spans[:, 0]
    seqs = Sequences(np.concatenate([[0], np.cumsum(sizes)]), np.concatenate([items[a:b] for a, b in spans]), None)
    return left_padded(seqs, np.arange(len(spans)), length, trim=True)


def batches(order: np.ndarray, sizes: np.ndarray, batch_size: int, pool: int, generator: torch.Generator) -> list:
    """The epoch's batches of window numbers. pool = 0: `order` cut into batches. pool > 0:
    each run of pool * batch_size windows of `order` is sorted by window size (stably) before
    it is cut, and the batches are then shuffled: batches of similar lengths carry little
    padding (fairseq's and torchtext's bucketing), while every window is still seen once."""
    if pool == 0:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    out = []
    span = pool * batch_size
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(sizes[chunk], kind="stable")]
        out += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]


def _seed(seed: int, epoch: int, rank: int = 0) -> int:
    """An epoch's seed; torchrun ranks > 0 draw their own dropout and negatives (rank 0's are
    a single process's), and all ranks share the epoch's batch order (drawn with rank 0's)."""
    return (seed * 1_000_003 + epoch * 7919 + rank * 999_999_937) % (2**63)


def _lr(config: TrainerConfig, step: int, total: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total - config.warmup_steps))
    if config.schedule == Schedule.cosine:
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
    if config.schedule == Schedule.linear:
        return config.lr * (1 - progress)
    return config.lr


# ------------------------------------------------------------------ checkpoints


def _tensors(prefix: str, state: dict) -> dict:
    return {f"{prefix}{k}": v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_checkpoint(
    folder: Path, model: RecModel, optimizer: torch.optim.Optimizer, state: dict, control: Optional[Controller] = None
) -> None:
    """work/checkpoint.safetensors: the model's and the optimizer's tensors, with the counters,
    the optimizer's hyper-parameters and the log so far as JSON in its metadata. One file,
    renamed into place: a checkpoint is always whole and consistent."""
    from safetensors.torch import save_file

    from sparsecli.io.files import atomic_path

    tensors = {**_tensors("model/", model.state_dict()), **_mask_tensors(control)}
    optim = optimizer.state_dict()
    for index, values in optim["state"].items():
        for name, value in values.items():
            tensors[f"optim/{index}/{name}"] = torch.as_tensor(value).detach().to("cpu").contiguous().clone()
    # a string inside the metadata, so the log's key order survives the sorted dump
    extra = {"control_log": json.dumps(control.log)} if control is not None else {}
    meta = json.dumps({**state, "param_groups": optim["param_groups"], **extra}, sort_keys=True)
    with atomic_path(folder / CHECKPOINT) as tmp:
        save_file(tensors, str(tmp), metadata={STATE: meta})


def load_checkpoint(
    folder: Path, model: RecModel, optimizer: torch.optim.Optimizer, control: Optional[Controller] = None
) -> Optional[dict]:
    """The counters of the checkpoint in `folder` after loading it into model and optimizer;
    None when there is none."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        state = json.loads(handle.metadata()[STATE])
    tensors = load_file(str(path))
    model.load_state_dict({k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")})
    _load_masks(tensors, control)
    control_log = state.pop("control_log", None)
    if control is not None and control_log is not None:
        control.log = json.loads(control_log)
    optim: dict = {"state": {}, "param_groups": state.pop("param_groups")}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            optim["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(optim)
    return state


def _mask_tensors(control: Optional[Controller]) -> dict:
    return {f"{MASK}{name}": keep.contiguous() for name, keep in (control.masks if control else {}).items()}


def _load_masks(tensors: dict, control: Optional[Controller]) -> None:
    found = {k[len(MASK) :]: v for k, v in tensors.items() if k.startswith(MASK)}
    if control is not None and found:
        control.masks = found


def save_weights(path: Path, model: RecModel, control: Optional[Controller] = None) -> None:
    """The model's weights as safetensors at `path` (callers give a temporary name); with a
    controller, its masks beside them (`mask/<layer>`, bool), for the work folder's copies."""
    from safetensors.torch import save_file

    save_file({**_tensors("", model.state_dict()), **_mask_tensors(control)}, str(path))


def load_weights(path: Path, model: RecModel, control: Optional[Controller] = None) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith(MASK)})
    _load_masks(tensors, control)


# ------------------------------------------------------------------ the loop


def planned_steps(model: RecModel, train: Sequences, config: TrainerConfig, ranks: int = 1) -> int:
    """Optimizer steps in trainer.max_epochs epochs (fewer if a budget or patience stops it),
    each of `ranks` batches (one a torchrun process)."""
    length = model.max_len + 1
    return _epoch_steps(len(windows(train, length, length - 1)), config.batch_size, ranks) * config.max_epochs


def _epoch_steps(n_windows: int, batch_size: int, ranks: int) -> int:
    return math.ceil(math.ceil(n_windows / batch_size) / ranks)


def _rank_batches(order: list, world: World) -> list:
    """A torchrun rank's batches of the epoch's `order`: every world.size-th, from its rank,
    wrapping round at the end so every rank takes the same number of steps (as torch's
    DistributedSampler pads)."""
    steps = -(-len(order) // world.size)
    return [order[(step * world.size + world.rank) % len(order)] for step in range(steps)]


def average_gradients(parameters: list, size: int) -> None:
    """Each gradient replaced by its mean over the torchrun ranks: DDP's all-reduce, in one
    flat buffer after backward. Not DDP's wrapper: its hooks fire from one forward() call,
    and a loss here is built from several of the model's methods (hidden, output_weights,
    auxiliary_loss). A parameter with no gradient on a rank counts as zeros there."""
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for parameter in parameters:
        parameter.grad = flat[offset : offset + parameter.numel()].view_as(parameter)
        offset += parameter.numel()


def _log_popularity(counts: np.ndarray) -> torch.Tensor:
    """float [n_items]: log of each item's share of the training interactions (logQ)."""
    return torch.from_numpy(np.log(np.maximum(counts, 1e-12) / max(counts.sum(), 1.0))).float()


def _loss(
    model: RecModel, loss: LossConfig, inputs: torch.Tensor, targets: torch.Tensor, ctx: LossContext, autocast: bool
) -> torch.Tensor:
    """One batch's training loss: next-item loss at every target >= 0, plus the model's own."""
    with torch.autocast(inputs.device.type, dtype=torch.bfloat16, enabled=autocast):
        hidden = model.hidden(inputs)
    chosen = targets >= 0
    weights, bias = model.output_weights()
    value = loss(hidden[chosen].float(), targets[chosen], weights, bias, ctx)
    extra = model.auxiliary_loss(hidden[chosen].float(), targets[chosen])
    return value if extra is None else value + extra  # extra: M2TRec's category heads


def step_flops(
    model: RecModel, data: Dataset, loss: LossConfig, config: TrainerConfig, control: Optional[Controller] = None
) -> flops.StepFlops:
    """FLOPs of one training step (forward and backward) on a full batch of data.split.train,
    dense and at the density `control`'s masks give each target weight (sparsity/flops.py).
    The batch is the first batch_size training windows; torch's random state is restored
    and the gradients cleared after."""
    device = config.torch_device()
    length = model.max_len + 1
    spans = windows(data.split.train, length, length - 1)[: config.batch_size]
    counts = data.split.train.item_counts(len(data.items)).astype(np.float64)
    densities = {}
    if control is not None:
        for name, density in control.census()["density"].items():
            densities[control.modules[name].weight] = density
    with torch.random.fork_rng(devices=[]):
        generator = torch.Generator().manual_seed(0)
        inputs, targets = model.training_batch(window_batch(data.split.train.items, spans, length), generator)
        ctx = LossContext(generator, _log_popularity(counts))
        model.train()
        # in fp32 whatever trainer.precision: counts depend on shapes alone, and autocast's
        # bf16 copies of the weights would hide which products read a masked weight
        counted = flops.step_flops(
            lambda: _loss(model, loss, inputs.to(device), targets.to(device), ctx, False), densities
        )
    model.zero_grad(set_to_none=True)
    model.eval()
    return counted


class Trained(NamedTuple):
    best_epoch: int  # the epoch in which the kept weights were validated
    best_step: int  # the optimizer step after which they were
    best: float
    epochs: int
    steps: int
    stopped: str  # why training ended: patience, max_epochs, max_wall_s
    log: list


def fit(
    model: RecModel,
    data: Dataset,
    loss: LossConfig,
    config: TrainerConfig,
    rank: ranking.RankingConfig,
    seed: int,
    work: Path,
    progress: Callable,
    control: Optional[Controller] = None,
    after_epoch: Optional[Callable[[int], None]] = None,
    world: World = ALONE,
) -> Trained:
    """Train `model` on data.split.train, validating on data.split.valid; leaves the best
    weights in work/best.safetensors and in `model`.

    Validation runs at the end of every config.eval_every-th epoch and, with
    config.eval_every_steps, also every that many optimizer steps within an epoch (logged as
    {"epoch", "step", "within_epoch": true, "wall_s", "valid"}, with "sparsity" under
    control). Validating reads no random state and patience counts epoch-end validations
    only, against the best of those, so within-epoch validation changes which weights are
    kept (the best of all validations) but never the training, nor when it stops.

    control: sparse training (sparsity/training.py), called around every step: before the
    forward pass, after the backward pass (before clipping: RigL ranks the raw gradient) and
    after the optimizer step, with the global step counted from 0. Validations before the
    controller's masks reach their final sparsity (control.settles_at()) are neither kept as
    the best nor counted against patience. Its masks are saved in each checkpoint and beside
    the best weights, and it ends holding the best validation's masks. Its
    random growth (SET) is reseeded every epoch from (seed, epoch). after_epoch(epoch) runs
    once an epoch's checkpoint is saved.

    world: data-parallel training under torchrun (runs/world.py). Each rank takes every
    world.size-th batch of the epoch's order and the gradients are averaged (an effective
    batch of world.size * batch_size); rank 0 validates, decides when to stop and saves the
    checkpoints and best weights, which every rank resumes from.

    Raises InputError when no user has two training interactions, ConfigError when
    trainer.monitor names no validation metric."""
    device = config.torch_device()
    model.to(device)
    n_items = len(data.items)
    train = data.split.train
    length = model.max_len + 1
    spans = windows(train, length, length - 1)
    if len(spans) == 0:
        from sparsecli.errors import InputError

        raise InputError(
            "no user has 2 training interactions: nothing to learn from", where="data", fix="check the split"
        )
    counts = train.item_counts(n_items).astype(np.float64)
    log_popularity = _log_popularity(counts)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sizes = spans[:, 1] - spans[:, 0]
    total = _epoch_steps(len(spans), config.batch_size, world.size) * config.max_epochs
    parameters = list(model.parameters())
    if control is not None:
        control.bind(optimizer)
    state = load_checkpoint(work, model, optimizer, control)
    if state is None:
        state = {
            "epoch": 0,
            "step": 0,
            "best": -1.0,
            "best_epoch": 0,
            "best_step": 0,
            "end_best": -1.0,  # the best epoch-end figure, which patience follows
            "bad": 0,
            "elapsed": 0.0,
            "log": [],
        }
    else:
        if "best_step" not in state:  # a checkpoint written before within-epoch validation
            ends = [e["step"] for e in state["log"] if e["epoch"] == state["best_epoch"] and "valid" in e]
            state.update(best_step=ends[0] if ends else 0, end_best=state["best"])
        log.info("resuming from the checkpoint after epoch %d", state["epoch"])
    (work / PENDING).unlink(missing_ok=True)  # from an epoch that never reached its checkpoint
    if world.size > 1 and world_ops.broadcast([state["epoch"], state["step"]]) != [state["epoch"], state["step"]]:
        from sparsecli.errors import InputError

        raise InputError(
            f"rank {world.rank} found another checkpoint than rank 0",
            where=str(work / CHECKPOINT),
            fix="put runs_root on storage every node sees",
        )
    autocast = config.precision == Precision.bf16
    started = time.perf_counter() - state["elapsed"]

    def validate(entry: dict, at_end: bool) -> None:
        """Validate the current weights into entry["valid"]; keep them (in PENDING) when they
        are the best so far. Only epoch-end validations (at_end) count towards patience."""
        model.eval()
        with control.evaluating() if control is not None else contextlib.nullcontext():
            ranked = ranking.full_ranking(model.scorer(), data.split.valid, n_items, rank, device)
        valid = ranking.report(ranked, data.split.valid, counts, rank)
        entry["valid"] = {k: v for k, v in valid.items() if "@" in k}
        current = valid.get(config.monitor)
        if current is None:
            from sparsecli.errors import ConfigError

            raise ConfigError(
                f"no validation metric {config.monitor!r}",
                where="trainer.monitor",
                fix=f"pass one of {', '.join(k for k in valid if '@' in k)}",
            )
        if control is not None and state["step"] <= control.settles_at():
            entry["before_final_sparsity"] = True  # a model still being pruned is no candidate
            return
        if current > state["best"]:
            state.update(best=current, best_epoch=entry["epoch"], best_step=state["step"])
            with atomic_path(work / PENDING) as tmp:
                save_weights(tmp, model, control)
        if at_end:
            state["bad"] = 0 if current > state["end_best"] else state["bad"] + 1
            state["end_best"] = max(state["end_best"], current)

    def sparsity_census() -> dict:
        """The masks in force now, with the active parameter count; {} for dense training."""
        if control is None:
            return {}
        census = control.census()
        census["active_params"] = sum(p.numel() for p in model.parameters()) - census["pruned"]
        return {"sparsity": census}

    while state["epoch"] < config.max_epochs and not state.get("stopped"):
        epoch = state["epoch"] + 1
        torch.manual_seed(_seed(seed, epoch))
        generator = torch.Generator().manual_seed(_seed(seed, epoch) + 1)
        ctx = LossContext(generator, log_popularity)
        if control is not None:
            control.generator = torch.Generator().manual_seed(_seed(seed, epoch) + 2)
        order = batches(
            torch.randperm(len(spans), generator=generator).numpy(), sizes, config.batch_size, config.bucket, generator
        )
        if world.size > 1:
            order = _rank_batches(order, world)
            if world.rank > 0:
                torch.manual_seed(_seed(seed, epoch, world.rank))
                generator.manual_seed(_seed(seed, epoch, world.rank) + 1)
        steps = len(order)
        validates_at_end = epoch % config.eval_every == 0 or epoch == config.max_epochs
        model.train()
        total_loss, epoch_start, out_of_time, validating_s = 0.0, time.perf_counter(), False, 0.0
        with progress(f"epoch {epoch}", steps, "steps") as bar:
            for b in range(steps):
                batch = window_batch(train.items, spans[order[b]], length)
                inputs, targets = model.training_batch(batch, generator)
                inputs, targets = inputs.to(device), targets.to(device)
                for group in optimizer.param_groups:
                    group["lr"] = _lr(config, state["step"], total)
                if control is not None:
                    control.before_forward(state["step"])
                value = _loss(model, loss, inputs, targets, ctx, autocast)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                if world.size > 1:
                    average_gradients(parameters, world.size)
                if control is not None:
                    control.after_backward(state["step"])
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                if control is not None:
                    control.after_step(state["step"])
                state["step"] += 1
                total_loss += float(value.detach())
                bar.advance()
                bar.note(f"loss {total_loss / (b + 1):.4f}")
                if config.max_wall_s is not None:
                    out_of_time = time.perf_counter() - started >= config.max_wall_s
                    if world.size > 1:  # rank 0's clock decides for all
                        out_of_time = bool(world_ops.broadcast([int(out_of_time)])[0])
                    if out_of_time:  # the epoch-end validation follows
                        break
                if (
                    world.rank == 0
                    and config.eval_every_steps
                    and state["step"] % config.eval_every_steps == 0
                    and not (b + 1 == steps and validates_at_end)  # the epoch's own validation follows
                ):
                    clock = time.perf_counter()
                    within = {"epoch": epoch, "step": state["step"], "within_epoch": True}
                    validate(within, at_end=False)
                    validating_s += time.perf_counter() - clock
                    # the clock after validating, as at epoch ends
                    within.update(wall_s=round(time.perf_counter() - started, 3), **sparsity_census())
                    state["log"].append(within)
                    model.train()
        train_s = time.perf_counter() - epoch_start - validating_s  # steps only, as in steps_per_s
        if world.size > 1:  # the mean batch loss over every rank's batches
            total_loss = world_ops.total(total_loss) / world.size
        entry = {
            "epoch": epoch,
            "step": state["step"],
            "loss": total_loss / (b + 1),
            "lr": optimizer.param_groups[0]["lr"],
            "train_s": round(train_s, 3),
            "steps_per_s": round((b + 1) / max(train_s, 1e-9), 2),
            **sparsity_census(),  # the masks in force at the epoch's end
        }
        if world.rank > 0:  # rank 0 validates and decides whether training goes on
            state["epoch"] = epoch
            state["stopped"] = STOPS[world_ops.broadcast([0])[0]]
            continue
        if validates_at_end or out_of_time:
            validate(entry, at_end=True)
            log.info(
                "epoch %d: loss %.4f, valid %s %.4f (best %.4f at step %d), %.1f steps/s",
                epoch, entry["loss"], config.monitor, entry["valid"][config.monitor], state["best"], state["best_step"],
                entry["steps_per_s"],
            )  # fmt: skip
        state["epoch"] = epoch
        state["elapsed"] = time.perf_counter() - started
        entry["wall_s"] = round(state["elapsed"], 3)
        state["log"].append(entry)
        if out_of_time:
            state["stopped"] = "max_wall_s"
        elif state["bad"] >= config.patience:
            state["stopped"] = "patience"
        if (work / PENDING).is_file():
            os.replace(work / PENDING, work / BEST)
        save_checkpoint(work, model, optimizer, state, control)
        if world.size > 1:
            world_ops.broadcast([STOPS.index(state.get("stopped"))])
        if after_epoch is not None:
            after_epoch(epoch)
    if world.rank > 0:  # its weights are rank 0's; rank 0 keeps the best ones
        return Trained(0, 0, -1.0, state["epoch"], state["step"], state.get("stopped") or "max_epochs", [])
    if not (work / BEST).is_file():  # stopped (by max_wall_s) before the schedule reached its end
        log.warning(
            "training ended at step %d, before the sparsity schedule settled: the last weights are kept", state["step"]
        )
        with atomic_path(work / BEST) as tmp:
            save_weights(tmp, model, control)
    load_weights(work / BEST, model, control)
    stopped = state.get("stopped") or "max_epochs"
    return Trained(
        state["best_epoch"], state["best_step"], state["best"], state["epoch"], state["step"], stopped, state["log"]
    )
