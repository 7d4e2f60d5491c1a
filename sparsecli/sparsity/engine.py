"""One-shot pruning of a model's target layers: the budget shared among layers, each layer's
mask from its criterion and structure, calibration for the criteria that read activations,
and a refusal when a layer collapses. Hydra-free: `sparse prune` calls `prune_model` with a
SparsityConfig (which has already refused combinations that cannot work).

Calibration (Wanda, SparseGPT) is sequential, as both papers do: layers are taken in groups
(the Linear layers of one numbered block, e.g. `encoder.layer.3.`), and each group's input
statistics are gathered by running the calibration batches through the model whose earlier
groups are already pruned, so each layer is fitted to the inputs it will see. Padding
positions (attention_mask = 0) are left out of the statistics. Each pass stops once every
layer of the group has run, so later blocks and a vocabulary head are never computed; the
cost is still one partial forward pass per group (the papers cache each block's inputs
instead, which large decoders need).
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Mapping, NamedTuple, Optional, Sequence

import torch
from torch import nn

from sparsecli.errors import ConfigError, InputError
from sparsecli.schema import check
from sparsecli.sparsity import (
    allocation,
    criteria,
    dsnot,
    heads,
    layers,
    masks,
    schedules,
    sparsegpt,
    structure,
    training,
)
from sparsecli.sparsity.config import (
    GLOBAL,
    Allocation,
    Criterion,
    Refine,
    SparsityConfig,
    Structure,
    criterion_needs_calibration,
    parse_nm,
)


class Result(NamedTuple):
    masks: dict  # name -> bool keep [out, in]
    report: list  # masks.LayerReport per layer
    sparsity: float  # pruned / total over the target layers


def targets(model: nn.Module, config: SparsityConfig) -> dict:
    """The config's target layers of `model` (layers.targets). Raises ConfigError when none."""
    modules = layers.targets(model, config.include, config.ignore, config.layer_types)
    check(
        bool(modules),
        "sparsity.include",
        f"no layer of sparsity.layer_types={list(config.layer_types)} matches include and escapes ignore",
        "widen include, or empty sparsity.ignore (its default drops names containing 'embed')",
    )
    if config.allocation == Allocation.layers:  # a pattern that names no layer is a typo, not a no-op
        for pattern in config.per_layer:
            check(
                any(re.search(pattern, name) for name in modules),
                f"sparsity.per_layer.{pattern}",
                "matches no target layer",
                f"match one of: {', '.join(list(modules)[:6])}{', ...' if len(modules) > 6 else ''}",
            )
    return modules


def layer_sparsities(config: SparsityConfig, shapes: Mapping[str, tuple], target: float) -> dict:
    """Each layer's sparsity under the config's allocation for an overall `target` (global
    allocation decides from the scores instead: None per layer)."""
    if config.allocation == Allocation.uniform:
        return allocation.uniform(shapes, target)
    if config.allocation in (Allocation.erk, Allocation.er):
        kept = allocation.erdos_renyi(shapes, 1.0 - target, kernel=config.allocation == Allocation.erk)
        return {name: 1.0 - density for name, density in kept.items()}
    if config.allocation == Allocation.layers:
        # a schedule's intermediate level scales each layer's final sparsity alike
        scale = target / config.target() if config.target() > 0 else 1.0
        return {
            name: next((v * scale for p, v in config.per_layer.items() if re.search(p, name)), target)
            for name in shapes
        }
    return {name: None for name in shapes}


def layer_mask(config: SparsityConfig, scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """The keep mask of one layer from its scores, in the config's structure."""
    if config.structure == Structure.nm:
        return structure.n_m(scores, *parse_nm(config.nm))
    if config.structure == Structure.block:
        return structure.blocks(scores, sparsity, tuple(config.block))
    if config.structure == Structure.rows:
        return structure.rows(scores, sparsity)
    if config.criterion == Criterion.wanda:
        return structure.per_row(scores, sparsity)  # Wanda compares within each output row
    return structure.per_layer(scores, sparsity)


def groups(names: Iterable[str]) -> list[list[str]]:
    """Target names in model order, grouped by their numbered block (`...layer.3.`); a name
    outside any numbered block is a group of its own."""
    out: list[list[str]] = []
    keys: list[str] = []
    for name in names:
        match = re.search(r"^(.*?\.\d+)\.", name)
        key = match.group(1) if match else name
        if keys and keys[-1] == key:
            out[-1].append(name)
        else:
            out.append([name])
            keys.append(key)
    return out


class _Enough(Exception):
    """Raised once every layer of the group has run: the rest of the forward pass is not needed."""


@torch.no_grad()
def gather(model: nn.Module, modules: Mapping[str, nn.Module], batches: Sequence[dict], hessian: bool) -> dict:
    """FeatureStats of the inputs of `modules` over the calibration `batches` (keyword
    arguments of `model`), real tokens only: positions whose `attention_mask` is 0 are left out.

    Raises InputError when a layer never runs on them (its statistics would be all zero)."""
    stats = {
        name: criteria.FeatureStats(layers.matrix(m).shape[1], hessian, m.weight.device) for name, m in modules.items()
    }
    seen: set[str] = set()
    current: dict = {}

    def record(name, inputs):
        x = inputs[0]
        mask = current.get("attention_mask")
        if mask is not None and x.dim() == 3 and tuple(x.shape[:2]) == tuple(mask.shape):
            x = x[mask.bool()]
        stats[name].add(x)
        seen.add(name)
        if len(seen) == len(modules):
            raise _Enough

    hooks = [m.register_forward_hook(lambda m, args, out, name=name: record(name, args)) for name, m in modules.items()]
    try:
        model.eval()
        for batch in batches:
            seen.clear()
            current.clear()
            current.update(batch)
            try:
                model(**batch)
            except _Enough:
                pass
    finally:
        for hook in hooks:
            hook.remove()
    for name, found in stats.items():
        if found.tokens == 0:
            raise InputError(
                f"layer {name} never ran on the calibration batches", where="sparsity.include", fix="leave it out"
            )
    return stats


def prune_model(
    model: nn.Module,
    config: SparsityConfig,
    calibration: Optional[Sequence[dict]] = None,
    generator: Optional[torch.Generator] = None,
    sparsity: Optional[float] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> Result:
    """Prune `model` in place to `sparsity` (default: the config's target). `calibration`:
    batches (keyword arguments of `model`), required for wanda and sparsegpt.

    Raises ConfigError naming the field: no target layer, a structure that does not fit a
    layer, an unreachable min_density, a layer pruned beyond max_layer_sparsity."""
    modules = targets(model, config)
    target = config.target() if sparsity is None else sparsity
    needs = criterion_needs_calibration(config)
    check(not needs or bool(calibration), "data", f"{config.criterion.value} needs calibration data", "pass data=")
    generator = generator or torch.Generator().manual_seed(0)
    if config.structure == Structure.heads:
        result = _prune_heads(model, modules, target, generator if config.criterion == Criterion.random else None)
    elif config.allocation == GLOBAL:
        scores = {name: _scores(config, m, None, generator) for name, m in modules.items()}
        try:
            result = allocation.global_masks(scores, target, config.min_density)
        except ValueError as err:
            raise ConfigError(str(err), where="sparsity.min_density", fix="lower it, or the sparsity") from None
        masks.apply(modules, result)
    else:
        result = {}
        per_layer = layer_sparsities(config, {n: tuple(layers.matrix(m).shape) for n, m in modules.items()}, target)
        for group in groups(modules):
            chosen = {name: modules[name] for name in group}
            stats = gather(model, chosen, calibration, config.criterion == Criterion.sparsegpt) if needs else {}
            for name, module in chosen.items():
                if progress is not None:
                    progress(name)
                try:
                    result[name] = _prune_layer(config, module, stats.get(name), per_layer[name], generator)
                except sparsegpt.NotPositiveDefinite as err:
                    raise ConfigError(
                        f"layer {name}: {err}", where="sparsity.dampening", fix="raise it, e.g. 0.1"
                    ) from None
                except ValueError as err:  # a structure that does not fit this layer's shape
                    field = {Structure.nm: "sparsity.nm", Structure.block: "sparsity.block"}.get(config.structure)
                    raise ConfigError(
                        f"layer {name}: {err}", where=field or "sparsity", fix="exclude it with sparsity.ignore"
                    ) from None
    summary = summarize(result, modules, config)
    worst = max(summary.report, key=lambda r: r.sparsity)
    check(
        worst.sparsity <= config.max_layer_sparsity,
        "sparsity.max_layer_sparsity",
        f"layer {worst.name} would be {worst.sparsity:.1%} pruned, beyond {config.max_layer_sparsity}",
        "lower the sparsity, set a floor (sparsity.min_density) or raise the limit if you mean it",
    )
    return summary


def summarize(chosen: Mapping[str, torch.Tensor], modules: Mapping[str, nn.Module], config: SparsityConfig) -> Result:
    """The masks with their per-layer report and total sparsity (N:M validity under N:M)."""
    nm = parse_nm(config.nm) if config.structure == Structure.nm else None
    report = masks.report(chosen, modules, nm)
    total = sum(r.params for r in report)
    return Result(dict(chosen), report, 1.0 - sum(r.kept for r in report) / total)


def controller(
    model: nn.Module,
    config: SparsityConfig,
    total_steps: int,
    generator: Optional[torch.Generator] = None,
    masks_now: Optional[dict] = None,
    steps_field: str = "recovery.steps",
) -> training.Controller:
    """The training-loop controller (training.py) for the config's schedule, over the config's
    target layers of `model`, for a loop of `total_steps` optimizer steps:
    - oneshot: `masks_now` (already applied), or the config's one-shot masks now, held fixed;
    - gradual: Zhu & Gupta's schedule; imp: rounds with rewinding; srste: N:M by SR-STE;
    - rigl, set, dsl: the config's one-shot masks now (random for dsl), then drop and grow
      every update_frequency steps until `end` (default: 75% of total_steps, RigL's).
    Pruning at an update ranks by magnitude (calibrated criteria need data: `sparse prune`).

    Raises ConfigError as prune_model does, and before any training when the loop is shorter
    than the schedule (naming `steps_field`) or a layer's shape does not fit the structure."""
    generator = generator or torch.Generator().manual_seed(0)
    modules = targets(model, config)
    check(
        total_steps >= config.min_steps(),
        steps_field,
        f"{total_steps} steps, but sparsity={config.name} needs {config.min_steps()}",
        f"train longer, or shorten the schedule (sparsity.{'decay_end' if config.name == 'srste' else 'end'})",
    )
    for name, module in modules.items():  # the shapes, now rather than after training
        try:
            layer_mask(config, torch.zeros(layers.matrix(module).shape), config.target())
        except ValueError as err:
            field = {Structure.nm: "sparsity.nm", Structure.block: "sparsity.block"}.get(config.structure, "sparsity")
            raise ConfigError(f"layer {name}: {err}", where=field, fix="exclude it with sparsity.ignore") from None

    def prune(level: float) -> dict:
        return prune_model(model, config, None, generator, sparsity=level).masks

    name = config.name
    if name == "oneshot":
        return training.Fixed(modules, masks_now if masks_now is not None else prune(config.target()))
    if name == "gradual":
        steps = schedules.update_steps(config.start, config.end, config.update_frequency)
        updates = {
            t: schedules.gradual(
                t, config.init_sparsity, config.target(), config.start, config.end, config.update_frequency,
                config.exponent,
            )
            for t in steps
        }  # fmt: skip
        if config.start > 0 and config.init_sparsity > 0:
            updates[0] = config.init_sparsity  # in force before `start` too
        return training.Gradual(modules, prune, updates)
    if name == "imp":
        rounds = schedules.iterative(config.target(), config.rounds, config.round_steps)
        return training.IterativeMagnitude(model, modules, prune, rounds, config.rewind_step)
    if name == "srste":
        return training.SRSTE(modules, *parse_nm(config.nm), config.lambda_w, config.decay.value, config.decay_end)
    end = config.end if config.end is not None else max(1, int(0.75 * total_steps))
    check(
        end <= total_steps,
        "sparsity.end",
        f"step {end} is beyond the {total_steps} steps planned",
        f"pass sparsity.end={max(1, int(0.75 * total_steps))} or less (or leave it unset: 75% of the steps)",
    )
    check(
        config.update_frequency < end,
        "sparsity.update_frequency",
        f"{config.update_frequency} steps leave no drop-and-grow update before step {end}: the masks would never move",
        f"pass sparsity.update_frequency={max(1, end // 10)} or fewer, or train longer" if end > 1 else "train longer",
    )
    alpha = config.drop_fraction
    return training.Dynamic(
        modules,
        prune(config.target()),
        lambda step: schedules.drop_fraction(step, alpha, end),
        config.update_frequency,
        end,
        config.grow.value,
        generator,
    )


def _prune_heads(model: nn.Module, modules: dict, sparsity: float, generator) -> dict:
    """Whole attention heads (heads.py) in every block among the targets: their masks, applied."""
    config = getattr(model, "config", None)
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_heads", None)
    check(
        n_heads is not None, "sparsity.structure", "the model's config names no head count", "choose another structure"
    )
    found = heads.blocks(modules)
    check(
        bool(found),
        "sparsity.structure",
        "no attention block (query, key, value and output projections) among the target layers",
        "widen sparsity.include, or choose another structure",
    )
    result = {}
    for block in found:
        try:
            chosen = heads.head_masks(modules, block, int(n_heads), sparsity, generator)
        except ValueError as err:
            raise ConfigError(str(err), where="sparsity.structure", fix="choose another structure") from None
        masks.apply(modules, chosen)
        heads.zero_biases(modules, block, chosen)
        result.update(chosen)
    return result


def _scores(config, module, stats, generator) -> torch.Tensor:
    weight = layers.matrix(module)
    if config.criterion == Criterion.random:
        return criteria.random(weight, generator)
    if config.criterion == Criterion.wanda:
        return criteria.wanda(weight, stats.sq_norms)
    return criteria.magnitude(weight)


@torch.no_grad()
def _prune_layer(config, module, stats, sparsity: float, generator) -> torch.Tensor:
    if config.criterion == Criterion.sparsegpt:
        nm = parse_nm(config.nm) if config.structure == Structure.nm else None
        pruned = sparsegpt.prune(
            layers.matrix(module), stats.gram, sparsity, nm, config.sparsegpt_block, config.dampening
        )
        layers.matrix(module).copy_(pruned.weight.to(module.weight.dtype))
        return pruned.keep
    keep = layer_mask(config, _scores(config, module, stats, generator), sparsity)
    if config.refine == Refine.dsnot:
        weight = layers.matrix(module)
        keep = dsnot.refine(
            weight,
            keep,
            *stats.mean_var(),
            criteria.wanda(weight, stats.sq_norms),
            parse_nm(config.nm) if config.structure == Structure.nm else None,
            config.dsnot_cycles,
            config.dsnot_threshold,
            config.dsnot_var_power,
        )
    masks.apply({"": module}, {"": keep})
    if config.structure == Structure.rows and getattr(module, "bias", None) is not None:
        module.bias.mul_(keep[:, 0].to(module.bias.dtype))  # a pruned neuron outputs nothing, not its bias
    return keep
