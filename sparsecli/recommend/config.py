"""Settings of `sparse train-rec` that are not a model, a loss or data: the trainer (a
config group: conf/trainer/) and the evaluation (`rank`). Torch-free, so `sparse --help`
stays instant."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import List, Optional

from sparsecli.schema import check, late_field, option


class Schedule(Enum):
    constant = "constant"
    cosine = "cosine"  # to 0 at max_epochs
    linear = "linear"  # to 0 at max_epochs


class Precision(Enum):
    fp32 = "fp32"
    bf16 = "bf16"  # autocast on the forward pass; the loss and the optimizer stay in float32


@option("trainer", "trainer")
@dataclass
class TrainerConfig:
    name: str = "default"
    device: str = "auto"  # auto: cuda when present, else cpu; or cpu, cuda, cuda:1, mps
    precision: Precision = Precision.fp32
    batch_size: int = 128  # windows per step (SASRec's)
    # Sort each run of bucket * batch_size shuffled windows by length before batching (0: off):
    # several times faster where most histories are short (Amazon data), every window still once.
    bucket: int = 64
    lr: float = 1e-3  # SASRec's Adam rate
    weight_decay: float = 0.0  # AdamW's decoupled decay; dropout regularises enough at this scale
    warmup_steps: int = 0
    schedule: Schedule = Schedule.constant
    grad_clip: float = 0.0  # max gradient norm; 0 = off, as SASRec and RecBole train
    max_epochs: int = 200  # 0: no training, evaluate the initial weights (init=)
    eval_every: int = 1  # epochs between validations
    # > 0: also validate every this many optimizer steps within an epoch, for learning curves at
    # step resolution (convergence comparisons); the best of all validations is kept, but
    # patience follows epoch ends only, so training stops as it would without. 0: epoch ends only.
    eval_every_steps: int = late_field(0)
    patience: int = 10  # epoch-end validations without improvement before stopping
    monitor: str = "NDCG@10"  # the validation metric early stopping and model selection follow
    # Stop when training has used this much wall time (seconds), then validate once more. Runs
    # that stop on time are not reproducible byte for byte; null = no limit.
    max_wall_s: Optional[float] = None

    def __post_init__(self) -> None:
        for name, example in (("batch_size", 256), ("eval_every", 1), ("patience", 10)):
            check(getattr(self, name) >= 1, f"trainer.{name}", "must be >= 1", f"pass e.g. trainer.{name}={example}")
        check(self.max_epochs >= 0, "trainer.max_epochs", "must be >= 0 (0: evaluate only)", "pass e.g. 200")
        check(self.eval_every_steps >= 0, "trainer.eval_every_steps", "must be >= 0", "pass 0 (off) or e.g. 5")
        check(self.bucket >= 0, "trainer.bucket", "must be >= 0", "pass 0 (off) or e.g. 64")
        check(self.lr > 0, "trainer.lr", "must be > 0", "pass e.g. 1e-3")
        check(self.weight_decay >= 0, "trainer.weight_decay", "must be >= 0", "pass e.g. 0.0")
        check(self.warmup_steps >= 0, "trainer.warmup_steps", "must be >= 0", "pass e.g. 0")
        check(self.grad_clip >= 0, "trainer.grad_clip", "must be >= 0", "pass 0 (off) or e.g. 1.0")
        check(
            self.max_wall_s is None or self.max_wall_s > 0, "trainer.max_wall_s", "must be > 0", "pass seconds or null"
        )
        check(
            self.device in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", self.device) is not None,
            "trainer.device",
            f"unknown device {self.device!r}",
            "pass auto, cpu, cuda, cuda:<n> or mps",
        )

    def torch_device(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


@dataclass
class RankingConfig:
    """How `sparse train-rec` evaluates (the `rank` settings)."""

    # Remove each user's history from its ranking. On by default (the general top-N protocol);
    # turn off where users re-consume, since a repeated target is then a guaranteed miss.
    mask_history: bool = True
    ks: List[int] = field(default_factory=lambda: [1, 5, 10, 20])
    top: int = 100  # items per user in the TREC runs
    # users scored at once; 256 keeps a CPU thread's block of scores in cache between the
    # product and the ranking pass (p5-beauty: 1.6 s against 1.9 s for 1024 or 128)
    batch_size: int = 256
    # > 0: also report metrics over the target and this many uniform negatives per user,
    # labelled "sampled"; never mixed with the full-ranking figures.
    sampled_negatives: int = 0
    cold_items: int = 5  # the "cold target" slice: targets with at most this many training interactions
    short_history: int = 5  # the "short history" slice: users with at most this many input items
    long_history: int = 20  # the "long history" slice: users with at least this many

    def __post_init__(self) -> None:
        check(
            bool(self.ks) and all(k >= 1 for k in self.ks),
            "rank.ks",
            "must be positive cutoffs",
            "pass e.g. [1,5,10,20]",
        )
        check(self.top >= max(self.ks), "rank.top", f"must be >= the largest cutoff ({max(self.ks)})", "pass e.g. 100")
        check(self.batch_size >= 1, "rank.batch_size", "must be >= 1", "pass e.g. 1024")
        check(self.sampled_negatives >= 0, "rank.sampled_negatives", "must be >= 0", "pass 0 (off) or e.g. 100")

    def headline(self) -> int:
        """The cutoff logs and sweep tables show: 10 when reported, else the largest."""
        return 10 if 10 in self.ks else max(self.ks)

    def measures(self) -> list[str]:
        """The metrics early stopping may follow: HR, Recall, NDCG and MRR at each cutoff."""
        return [f"{m}@{k}" for k in self.ks for m in ("NDCG", "HR", "Recall", "MRR")]
