"""The `sparsity` group, shared by `sparse prune` and `sparse train-rec`: what is pruned, by
which criterion, in which structure, how the budget is shared among layers, and on which
schedule. One option per schedule; the fields every schedule shares live on the base.

    sparsity=oneshot sparsity.sparsity=0.5 sparsity.criterion=wanda
    sparsity=oneshot sparsity.structure=nm sparsity.nm=2:4 sparsity.criterion=sparsegpt
    sparsity=gradual sparsity.sparsity=0.7 sparsity.end=3000 sparsity.update_frequency=100
    sparsity=imp sparsity.sparsity=0.7 sparsity.rounds=3 sparsity.round_steps=100
    sparsity=srste sparsity.nm=2:4 sparsity.decay=linear sparsity.decay_end=300
    sparsity=rigl sparsity.sparsity=0.9 sparsity.allocation=erk

Torch-free, so `sparse --help` stays instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional

from sparsecli.schema import check, late_field, option


class Criterion(Enum):
    magnitude = "magnitude"  # |W|
    random = "random"  # seeded uniform scores (random pruning)
    wanda = "wanda"  # |W| * ||X_j||_2 over calibration tokens, per output row (Sun et al. 2023)
    sparsegpt = "sparsegpt"  # OBS saliency with row-wise reconstruction (Frantar & Alistarh 2023)


class Structure(Enum):
    unstructured = "unstructured"
    nm = "nm"  # N:M along the input dimension (sparsity.nm)
    block = "block"  # whole tiles of sparsity.block
    rows = "rows"  # whole output rows (neurons), with their bias
    heads = "heads"  # whole attention heads: q/k/v rows and output-projection columns (heads.py)


class Refine(Enum):
    none = "none"
    dsnot = "dsnot"  # swap pruned and kept weights to cancel each row's expected error (Zhang et al. 2024)


# How the budget is shared among layers. Built from a mapping because `global` is a Python
# keyword and Hydra parses an enum by member name, so `sparsity.allocation=global` must name one.
#   uniform  every layer at the target: cannot collapse a layer
#   global   one ranking over all layers, each keeping >= min_density
#   erk, er  Erdos-Renyi(-Kernel) densities (RigL), dense-layer fallback; er: the two matrix dims only
#   layers   per_layer: {regex: sparsity}, first match wins; unmatched layers at the target
Allocation = Enum("Allocation", {name: name for name in ("uniform", "global", "erk", "er", "layers")})
GLOBAL = Allocation["global"]


DEFAULT_IGNORE = [r"(^|\.)lm_head$", r"(^|\.)decoder$", r"embed"]  # output vocab projections, embeddings


def parse_nm(text: str, where: str = "sparsity.nm") -> tuple[int, int]:
    """'2:4' -> (2, 4): keep N of every M consecutive input weights. Raises ConfigError."""
    parts = str(text).split(":")
    ok = len(parts) == 2 and all(p.strip().isdigit() for p in parts)
    n, m = (int(parts[0]), int(parts[1])) if ok else (0, 0)
    check(
        ok and 1 <= n < m,  # N = M keeps every weight
        where,
        f"{text!r} is not N:M with 1 <= N < M",
        "pass e.g. 2:4, 4:8 or 1:4 (quoted in YAML files: unquoted, YAML reads 2:4 as the number 124)",
    )
    return n, m


def _regexes(patterns, where: str) -> None:
    import re

    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            check(False, where, f"{pattern!r} is not a regular expression ({error})", "fix or quote the pattern")


@dataclass
class SparsityConfig:
    """Base of the `sparsity` group."""

    name: str = "?"
    sparsity: float = 0.5  # the fraction of target weights pruned (the final one, for schedules)
    criterion: Criterion = Criterion.magnitude
    structure: Structure = Structure.unstructured
    nm: str = "2:4"  # structure=nm: the pattern sparse tensor cores run (keep 2 of every 4)
    block: List[int] = field(default_factory=lambda: [1, 4])  # structure=block: [rows, cols] of a tile
    allocation: Allocation = Allocation.uniform
    min_density: float = 0.01  # allocation=global: every layer keeps at least this fraction
    per_layer: Dict[str, float] = field(default_factory=dict)  # allocation=layers
    include: List[str] = field(default_factory=lambda: ["."])  # regexes over qualified layer names
    ignore: List[str] = field(default_factory=lambda: list(DEFAULT_IGNORE))
    # linear; embedding (nn.Embedding tables); attention (nn.MultiheadAttention's packed
    # in_proj_weight): layers.py. Recommenders keep most of their parameters in embeddings.
    layer_types: List[str] = late_field(factory=lambda: ["linear"])
    # Refuse a result with a layer pruned beyond this: a fully pruned layer cuts the network
    # while the total still reads right (../shared/cases/prune/global_magnitude_collapse).
    max_layer_sparsity: float = 0.99
    dampening: float = 0.01  # criterion=sparsegpt: lambda = dampening * mean diag(H), the paper's
    sparsegpt_block: int = 128  # criterion=sparsegpt: columns per lazy-update block, the paper's
    refine: Refine = Refine.none  # dsnot: refine the criterion's mask without training
    dsnot_cycles: int = 50  # refine=dsnot: swaps per row at most (the reference's max_cycle_time)
    dsnot_threshold: float = 0.1  # refine=dsnot: stop a row once |expected error| <= this (update_threshold)
    dsnot_var_power: float = 1.0  # refine=dsnot: growth ranks |W_ij E[x_j]| / Var[x_j]^this (pow_of_var_regrowing)

    def __post_init__(self) -> None:
        check(0 <= self.sparsity < 1, "sparsity.sparsity", f"must be in [0, 1), got {self.sparsity}", "pass e.g. 0.5")
        if self.structure == Structure.nm:
            n, m = parse_nm(self.nm)
            default = type(self).__dataclass_fields__["sparsity"].default
            check(
                self.sparsity == default or math.isclose(self.sparsity, 1 - n / m, rel_tol=1e-3),
                "sparsity.sparsity",
                f"N:M fixes the sparsity at 1 - N/M = {1 - n / m:g}, so {self.sparsity} would be ignored",
                "leave sparsity.sparsity alone and choose sparsity.nm (2:4, 1:4, 4:8, ...)",
            )
        check(
            len(self.block) == 2 and min(self.block) >= 1,
            "sparsity.block",
            f"must be [rows, cols] >= 1, got {list(self.block)}",
            "pass e.g. [1,4]",
        )
        check(0 <= self.min_density <= 1, "sparsity.min_density", "must be in [0, 1]", "pass e.g. 0.01")
        check(0 < self.max_layer_sparsity <= 1, "sparsity.max_layer_sparsity", "must be in (0, 1]", "pass e.g. 0.99")
        check(self.dampening > 0, "sparsity.dampening", "must be > 0", "pass e.g. 0.01")
        check(self.sparsegpt_block >= 1, "sparsity.sparsegpt_block", "must be >= 1", "pass e.g. 128")
        for pattern, value in self.per_layer.items():
            check(0 <= value < 1, f"sparsity.per_layer.{pattern}", f"must be in [0, 1), got {value}", "e.g. 0.5")
        unknown = sorted(set(self.layer_types) - {"linear", "embedding", "attention"})
        check(
            not unknown and bool(self.layer_types),
            "sparsity.layer_types",
            f"unknown or none: {unknown or '[]'}",
            "pass a list of linear, embedding, attention",
        )
        check(
            list(self.layer_types) == ["linear"]
            or (
                self.criterion in (Criterion.magnitude, Criterion.random)
                and self.structure in (Structure.unstructured, Structure.nm, Structure.block)
            ),
            "sparsity.layer_types",
            "embeddings and packed attention projections are pruned by magnitude or random, unstructured, N:M or blocks",
            "pass sparsity.layer_types=[linear] for this criterion or structure",
        )
        _regexes(self.include, "sparsity.include")
        _regexes(self.ignore, "sparsity.ignore")
        _regexes(self.per_layer, "sparsity.per_layer")
        check(
            not self.per_layer or self.allocation == Allocation.layers,
            "sparsity.per_layer",
            f"is read only with allocation=layers, not {self.allocation.value}",
            "pass sparsity.allocation=layers, or drop per_layer",
        )
        check(
            self.allocation != GLOBAL
            or (self.structure == Structure.unstructured and self.criterion in (Criterion.magnitude, Criterion.random)),
            "sparsity.allocation",
            "global allocation ranks magnitude or random scores of unstructured weights across layers",
            "pass sparsity.allocation=uniform (or erk) with this criterion or structure",
        )
        if self.criterion == Criterion.sparsegpt:
            check(
                self.structure in (Structure.unstructured, Structure.nm),
                "sparsity.structure",
                "sparsegpt prunes unstructured or N:M",
                "pass sparsity.structure=unstructured or nm",
            )
            if self.structure == Structure.nm:
                m = parse_nm(self.nm)[1]
                check(
                    self.sparsegpt_block % m == 0,
                    "sparsity.sparsegpt_block",
                    f"{self.sparsegpt_block} is not a multiple of M={m}",
                    f"pass e.g. sparsity.sparsegpt_block={128 // m * m or m}",
                )
        if self.refine == Refine.dsnot:
            check(
                self.criterion != Criterion.sparsegpt,
                "sparsity.refine",
                "dsnot swaps the original weights, and sparsegpt has already rewritten the kept ones",
                "pass sparsity.criterion=wanda (DSnoT's default start) or magnitude",
            )
            check(
                self.structure in (Structure.unstructured, Structure.nm),
                "sparsity.refine",
                f"dsnot refines unstructured or N:M masks, not {self.structure.value}",
                "pass sparsity.structure=unstructured or nm",
            )
            check(
                self.allocation != GLOBAL,
                "sparsity.refine",
                "dsnot refines each layer's mask from its calibration statistics, not a global ranking",
                "pass sparsity.allocation=uniform (or erk, layers)",
            )
            check(self.dsnot_cycles >= 0, "sparsity.dsnot_cycles", "must be >= 0", "pass e.g. 50")
            check(math.isfinite(self.dsnot_var_power), "sparsity.dsnot_var_power", "must be a finite number", "e.g. 1")
            check(self.dsnot_threshold >= 0, "sparsity.dsnot_threshold", "must be >= 0", "pass e.g. 0.1")
        if self.structure == Structure.heads:
            check(
                self.criterion in (Criterion.magnitude, Criterion.random) and self.allocation == Allocation.uniform,
                "sparsity.structure",
                "heads are ranked by the magnitude of their four projections, the same fraction in every block",
                "pass sparsity.criterion=magnitude and sparsity.allocation=uniform with structure=heads",
            )
        check(
            not (self.structure == Structure.nm and self.allocation != Allocation.uniform),
            "sparsity.allocation",
            "N:M fixes every layer's density at 1 - N/M",
            "pass sparsity.allocation=uniform with structure=nm",
        )

    def min_steps(self) -> int:
        """Training steps the schedule needs: 0 to prune once."""
        return 0

    def target(self) -> float:
        """The final sparsity: 1 - N/M for N:M, else `sparsity`."""
        if self.structure == Structure.nm:
            n, m = parse_nm(self.nm)
            return 1.0 - n / m
        return self.sparsity


@option("sparsity", "oneshot")
@dataclass
class OneShot(SparsityConfig):
    """Prune once, to the target (then optionally recover by fine-tuning)."""

    name: str = "oneshot"


@option("sparsity", "gradual")
@dataclass
class Gradual(SparsityConfig):
    """Gradual magnitude pruning during training (Zhu & Gupta 2017; SparseML's and llm-compressor's
    GMP names): from init_sparsity at step `start` to `sparsity` at `end`, updating every
    update_frequency steps on a polynomial curve (exponent 3: cubic)."""

    name: str = "gradual"
    init_sparsity: float = 0.0
    start: int = 0  # optimizer steps
    end: int = 1000  # the last update: must be start + a multiple of update_frequency
    update_frequency: int = 100
    exponent: float = 3.0  # 3: Zhu & Gupta's cubic; 1: linear

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 <= self.init_sparsity <= self.target(), "sparsity.init_sparsity", "must be in [0, sparsity]", "e.g. 0")
        check(self.update_frequency >= 1, "sparsity.update_frequency", "must be >= 1", "pass e.g. 100")
        check(
            0 <= self.start <= self.end and (self.end - self.start) % self.update_frequency == 0,
            "sparsity.end",
            f"end - start = {self.end - self.start} must be >= 0 and a multiple of update_frequency "
            f"{self.update_frequency}, so the last update reaches the final sparsity",
            f"pass e.g. sparsity.end={self.start + 10 * self.update_frequency}",
        )
        check(self.exponent > 0, "sparsity.exponent", "must be > 0", "pass 3 (cubic) or 1 (linear)")
        check(
            self.structure != Structure.nm,
            "sparsity.structure",
            "N:M fixes every layer at 1 - N/M from the first update: there is no schedule to follow",
            "pass sparsity=oneshot with structure=nm, or an unstructured gradual schedule",
        )

    def min_steps(self) -> int:
        return self.end + 1  # the last update lands on step `end`


@option("sparsity", "imp")
@dataclass
class IterativeMagnitude(SparsityConfig):
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Chen et al. 2020 for
    pretrained transformers): train round_steps, prune the same fraction of what is left by
    magnitude, rewind every weight to its value at rewind_step, repeat `rounds` times; training
    after the last round trains the final ticket (schedules.iterative, training.IterativeMagnitude)."""

    name: str = "imp"
    rounds: int = 3  # prune-and-rewind rounds: 3 rounds to 70% prune 33% of what is left each
    round_steps: int = 100  # optimizer steps trained before each round prunes
    rewind_step: int = 0  # rounds restart from the weights at this step; 0 = the starting (pretrained) ones

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.rounds >= 1, "sparsity.rounds", "must be >= 1", "pass e.g. 3")
        check(self.round_steps >= 1, "sparsity.round_steps", "must be >= 1", "pass e.g. 100")
        check(
            0 <= self.rewind_step < self.round_steps,
            "sparsity.rewind_step",
            f"must be in [0, round_steps={self.round_steps}): rounds rewind to a step before the first pruning",
            "pass 0 (the starting weights) or an early step",
        )
        check(
            self.criterion == Criterion.magnitude and self.refine == Refine.none,
            "sparsity.criterion" if self.criterion != Criterion.magnitude else "sparsity.refine",
            "iterative pruning ranks the trained weights by magnitude",
            "pass sparsity.criterion=magnitude and no sparsity.refine",
        )
        check(
            self.structure in (Structure.unstructured, Structure.block),
            "sparsity.structure",
            "iterative pruning raises the sparsity each round: unstructured or block",
            "pass sparsity.structure=unstructured, or sparsity=srste for N:M",
        )

    def min_steps(self) -> int:
        return (self.rounds + 1) * self.round_steps  # the final ticket trains a round too


class Decay(Enum):  # training.mask_decay
    none = "none"  # plain SR-STE: pruned weights are zero in the forward pass
    linear = "linear"  # PGF's MDGF-linear: pruned weights scaled by 1 - step / decay_end
    exponential = "exponential"  # MDGF-exponential: scaled by exp(-5 step / decay_end)


@option("sparsity", "srste")
@dataclass
class SRSTE(SparsityConfig):
    """N:M sparsity trained from dense weights with SR-STE (Zhou et al., ICLR 2021): the mask is
    recomputed from |W| every step, gradients pass straight through, and lambda_w pulls the
    pruned weights to zero; `decay` lets the pruned weights fade out instead of vanishing at
    once (Bambhaniya et al. 2024, mask-decay gradient flow). training.SRSTE."""

    name: str = "srste"
    structure: Structure = Structure.nm
    lambda_w: float = 2e-4  # the paper's lambda_W (SR-STE's sparse-refined term)
    decay: Decay = Decay.none
    decay_end: int = 1000  # decay=linear or exponential: the step from which pruned weights are zero

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.structure == Structure.nm, "sparsity.structure", "SR-STE trains N:M masks", "pass structure=nm")
        check(
            self.criterion == Criterion.magnitude and self.refine == Refine.none,
            "sparsity.criterion" if self.criterion != Criterion.magnitude else "sparsity.refine",
            "SR-STE chooses each step's N:M mask by magnitude",
            "pass sparsity.criterion=magnitude and no sparsity.refine",
        )
        check(self.lambda_w >= 0, "sparsity.lambda_w", "must be >= 0", "pass e.g. 2e-4")
        check(self.decay_end >= 1, "sparsity.decay_end", "must be >= 1", "pass e.g. 1000")

    def min_steps(self) -> int:
        return self.decay_end + 1 if self.decay != Decay.none else 1  # pruned weights reach zero first


class Grow(Enum):  # dynamic.update's grow rule
    gradient = "gradient"  # RigL
    random = "random"  # SET


@option("sparsity", "rigl")
@dataclass
class Dynamic(SparsityConfig):
    """Dynamic sparse training at a constant budget: every update_frequency steps, drop the
    lowest-|w| fraction of each layer's active weights and grow as many (RigL: by gradient;
    sparsity.grow=random: SET), the fraction cosine-annealed from drop_fraction to 0 at `end`."""

    name: str = "rigl"
    grow: Grow = Grow.gradient
    drop_fraction: float = 0.3  # RigL's alpha
    update_frequency: int = 100  # RigL's delta T (DSL's too)
    end: Optional[int] = None  # RigL's T_end, masks fixed from here; None: 75% of the run's steps, the paper's
    allocation: Allocation = Allocation.erk  # RigL's default for its headline runs

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0 < self.drop_fraction <= 1, "sparsity.drop_fraction", "must be in (0, 1]", "pass e.g. 0.3")
        check(self.update_frequency >= 1, "sparsity.update_frequency", "must be >= 1", "pass e.g. 100")
        check(self.end is None or self.end >= 1, "sparsity.end", "must be >= 1", "pass the step masks stay fixed from")
        check(
            self.structure == Structure.unstructured,
            "sparsity.structure",
            "drop-and-grow updates are unstructured",
            "pass sparsity.structure=unstructured",
        )

    def min_steps(self) -> int:
        return 1


def criterion_needs_calibration(config: Optional[SparsityConfig]) -> bool:
    return config is not None and (
        config.criterion in (Criterion.wanda, Criterion.sparsegpt) or config.refine == Refine.dsnot
    )


@option("sparsity", "set")
@dataclass
class SET(Dynamic):
    """Sparse Evolutionary Training (Mocanu et al. 2018): RigL's drop, growth at random."""

    name: str = "set"
    grow: Grow = Grow.random


@option("sparsity", "dsl")
@dataclass
class DSL(Dynamic):
    """Dynamic Sparse Learning for recommenders (Wang et al., WSDM 2024): a random sparse start
    at density 1 - sparsity in every tensor, embeddings and attention projections included (a
    recommender's parameters are mostly its item table), then RigL's per-tensor drop by
    magnitude and growth by gradient every update_frequency steps, the fraction cosine-annealed."""

    name: str = "dsl"
    criterion: Criterion = Criterion.random  # the random sparse initialisation
    allocation: Allocation = Allocation.uniform  # the same density in every tensor
    layer_types: List[str] = field(default_factory=lambda: ["linear", "embedding", "attention"])
    ignore: List[str] = field(default_factory=list)  # embeddings are the point here
