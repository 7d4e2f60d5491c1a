"""Masks through a training loop: one controller per schedule, called at fixed points of
every step, so `sparse prune`'s self-distillation and `sparse train-rec` share them.

    control = training.Gradual(modules, prune, updates)   # or Fixed, IterativeMagnitude, Dynamic, SRSTE
    control.bind(optimizer)
    for step in range(steps):
        control.before_forward(step)
        loss = ...; loss.backward()
        control.after_backward(step)
        optimizer.step()
        control.after_step(step)
    final_masks = control.finish()

Controllers are plain calls, not module hooks or parametrizations, so the model stays a plain
model and what is saved has zeros in place (masks.py). Masks are bool [out, in] (True = keep)
in Linear layout (layers.matrix), keyed by target name. A controller re-applies its masks
after every optimizer step and clears the optimizer's state wherever a weight is newly pruned
or newly grown (masks.clear_optimizer_state): AdamW's moments would otherwise move it.

`prune(level)` callbacks (Gradual, IterativeMagnitude) rank the model's current weights, zero
the pruned ones and return the masks: engine.prune_model with the run's SparsityConfig.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Optional

import torch
from torch import nn

from sparsecli.sparsity import dynamic, layers, structure
from sparsecli.sparsity import masks as mask_ops

Masks = dict[str, torch.Tensor]  # name -> bool keep [out, in]


class Controller:
    """Masks held fixed once set; the base of every schedule."""

    def __init__(self, modules: Mapping[str, nn.Module]):
        self.modules = dict(modules)
        self.masks: Masks = {}
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.generator: Optional[torch.Generator] = None  # random growth (SET); loops may reseed it
        self.log: list[dict] = []  # one entry per mask change: {"step", "sparsity", ...}

    def bind(self, optimizer: torch.optim.Optimizer) -> None:
        """Keep `optimizer`'s state clear where the masks prune, from now on and already: an
        optimizer that stepped before the masks came (momentum) must not move pruned weights."""
        self.optimizer = optimizer
        if self.masks:
            mask_ops.clear_optimizer_state(optimizer, self.modules, self.masks)

    def before_forward(self, step: int) -> None:
        pass

    def after_backward(self, step: int) -> None:
        pass

    def after_step(self, step: int) -> None:
        mask_ops.apply(self.modules, self.masks)

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """The weights as the sparse model has them, for a validation pass inside training
        (only SR-STE's differ: it trains dense weights)."""
        yield

    def finish(self) -> Masks:
        """The final masks, applied."""
        mask_ops.apply(self.modules, self.masks)
        return self.masks

    def sparsity(self) -> float:
        """Pruned fraction of the target weights under the masks in force (0 before any)."""
        census = self.census()
        return 1.0 - (census["params"] - census["pruned"]) / census["params"] if census["params"] else 0.0

    def settles_at(self) -> int:
        """The last step at which the sparsity changes (a model validated after it is at the
        final sparsity); -1 when it never changes after the start."""
        return -1

    def census(self) -> dict:
        """{"params": target weights, "pruned": those pruned, "density": {layer: kept / numel}}."""
        density, params, pruned = {}, 0, 0
        for name, module in self.modules.items():
            numel = layers.matrix(module).numel()
            kept = int(self.masks[name].sum()) if name in self.masks else numel
            density[name] = kept / numel
            params += numel
            pruned += numel - kept
        return {"params": params, "pruned": pruned, "density": density}

    def _set(self, masks: Masks, step: int, **extra) -> None:
        self.masks = masks
        mask_ops.apply(self.modules, masks)
        if self.optimizer is not None:
            mask_ops.clear_optimizer_state(self.optimizer, self.modules, masks)
        self.log.append({"step": step, "sparsity": self.sparsity(), **extra})


class Fixed(Controller):
    """One-shot masks held through training (recovery after one-shot pruning)."""

    def __init__(self, modules: Mapping[str, nn.Module], masks: Masks):
        super().__init__(modules)
        self._set(dict(masks), 0)


class Gradual(Controller):
    """Masks recomputed at the schedule's update steps (Zhu & Gupta's gradual pruning):
    updates = {step: sparsity} (schedules.gradual at schedules.update_steps)."""

    def __init__(self, modules: Mapping[str, nn.Module], prune: Callable[[float], Masks], updates: Mapping[int, float]):
        super().__init__(modules)
        self.prune = prune
        self.updates = dict(updates)

    def before_forward(self, step: int) -> None:
        if step in self.updates:
            self._set(self.prune(self.updates[step]), step)

    def settles_at(self) -> int:
        return max(self.updates, default=-1)


class IterativeMagnitude(Controller):
    """Iterative magnitude pruning with rewinding (Frankle & Carbin, ICLR 2019; Frankle et al.,
    "Linear Mode Connectivity and the Lottery Ticket Hypothesis", ICML 2020; for pretrained
    transformers, rewinding to the pretrained weights: Chen et al., NeurIPS 2020).

    At `rewind_step` every parameter of `model` is copied. At each step of `rounds` = {step:
    sparsity}, the trained weights are pruned by magnitude to that sparsity, then every
    parameter (pruned layers, biases, norms, embeddings) is set back to its copy, the new masks
    applied, and the optimizer's state emptied: each round trains the sparser network again
    from the rewound point, and training after the last round trains the final ticket.

    Raises ValueError unless rewind_step comes before the first round."""

    def __init__(
        self,
        model: nn.Module,
        modules: Mapping[str, nn.Module],
        prune: Callable[[float], Masks],
        rounds: Mapping[int, float],
        rewind_step: int = 0,
    ):
        super().__init__(modules)
        if rounds and rewind_step >= min(rounds):
            raise ValueError(f"rewind_step {rewind_step} must come before the first round at step {min(rounds)}")
        self.model = model
        self.prune = prune
        self.rounds = dict(rounds)
        self.rewind_step = rewind_step
        self.rewound: Optional[dict] = None

    def before_forward(self, step: int) -> None:
        if step == self.rewind_step:
            self.rewound = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if step in self.rounds:
            chosen = self.prune(self.rounds[step])  # ranks the weights trained so far
            with torch.no_grad():
                self.model.load_state_dict(self.rewound)
            if self.optimizer is not None:
                self.optimizer.state.clear()  # a rewound network restarts its optimizer
            self._set(chosen, step, rewound_to=self.rewind_step)

    def settles_at(self) -> int:
        return max(self.rounds, default=-1)


class Dynamic(Controller):
    """Constant-budget drop-and-grow (dynamic.update: RigL grows by the dense gradient, SET at
    random; DSL, Wang et al. WSDM 2024, is RigL's rule per tensor). Every `update_frequency`
    steps before `end` (step > 0), after that step's optimizer update (as RigL's reference
    orders them), each layer drops floor(fraction(step) * active) of its active weights by
    magnitude and grows as many of its inactive ones, by |gradient| of that step or at random.
    Dropped weights are zeroed and newly grown ones set to zero, both with their optimizer
    state cleared, so a grown weight starts from nothing; a weight dropped and grown back at
    once keeps its value and state (RigL's reinit_when_same=False). A layer without a gradient
    that step keeps its mask. The masks' counts never change.

    Under Adam a grown weight's first update is about lr (1 - beta1) / sqrt(1 - beta2) (3.2 lr
    at the defaults), whatever its gradient: fresh moments with a late step count. RigL used
    SGD with momentum, which has no such jump.

    fraction: step -> fraction (schedules.drop_fraction, cosine-annealed)."""

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        masks: Masks,
        fraction: Callable[[int], float],
        update_frequency: int,
        end: int,
        grow: str = "gradient",
        generator: Optional[torch.Generator] = None,
    ):
        super().__init__(modules)
        self.fraction = fraction
        self.update_frequency = update_frequency
        self.end = end
        self.grow = grow
        # random growth draws from its own generator, never torch's global one (dropout's)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self._set(dict(masks), 0, fraction=0.0)

    def after_step(self, step: int) -> None:
        if step == 0 or step % self.update_frequency or step >= self.end:
            return super().after_step(step)
        fraction = self.fraction(step)
        new, fresh = {}, {}
        for name, module in self.modules.items():
            grad = module.weight.grad
            if grad is None and self.grow == "gradient":
                new[name], fresh[name] = self.masks[name], torch.zeros_like(self.masks[name])
                continue
            grad = None if grad is None else (grad.T if layers.is_conv1d(module) else grad)
            update = dynamic.update(layers.matrix(module), self.masks[name], fraction, self.grow, grad, self.generator)
            new[name], fresh[name] = update.keep, update.grown & ~self.masks[name]
        self.masks = new
        with torch.no_grad():
            for name, module in self.modules.items():
                keep = layers.stored(module, new[name] & ~fresh[name]).to(module.weight.dtype)
                module.weight.mul_(keep)  # dropped and newly grown weights at zero
        if self.optimizer is not None:
            mask_ops.clear_optimizer_state(self.optimizer, self.modules, {n: ~g for n, g in fresh.items()})
            mask_ops.clear_optimizer_state(self.optimizer, self.modules, new)
        grown = sum(int(g.sum()) for g in fresh.values())
        self.log.append({"step": step, "sparsity": self.sparsity(), "fraction": fraction, "grown": grown})


def mask_decay(step: int, kind: str, end: int) -> float:
    """The factor the pruned weights of an N:M layer are multiplied by in the forward pass at
    `step`, decaying to 0: the mask-decay gradient flow (MDGF) of Bambhaniya et al.,
    "Progressive Gradient Flow for Robust N:M Sparsity Training in Transformers" (2024).

        none         0
        linear       max(0, 1 - step / end)
        exponential  exp(-5 step / end) before `end` (below 0.007 there), 0 from `end` on
    """
    if kind == "none" or step >= end:
        return 0.0
    if kind == "linear":
        return 1.0 - step / end
    if kind == "exponential":
        return math.exp(-5.0 * step / end)
    raise ValueError(f"unknown decay {kind!r}: none, linear or exponential")


class SRSTE(Controller):
    """N:M training from dense weights with the sparse-refined straight-through estimator
    (Zhou et al., "Learning N:M Fine-grained Structured Sparse Neural Networks From Scratch",
    ICLR 2021, Eq. 6), optionally with decaying pruned weights (mask_decay).

    The dense weights W are kept. Each step's N:M mask m keeps the N largest |W| of every M
    inputs; the forward pass sees W * (m + beta (1 - m)), beta = mask_decay(step); the
    gradient reaches W unchanged (straight through) plus lambda_w (1 - m) W, which pulls the
    pruned weights towards zero so the mask settles. finish() prunes W to its final N:M mask.

    With decay this is SR-STE and PGF's mask decay together (PGF's own MDGF has no lambda_w
    term: pass lambda_w=0 for it alone). The paper tuned lambda_w = 2e-4 with SGD; under Adam
    the term is normalised with the gradient it is added to, so its pull is weaker.
    The log samples the masks every `log_every` steps: flips since the last sample."""

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        n: int,
        m: int,
        lambda_w: float,
        decay: str = "none",
        decay_end: int = 1,
        log_every: int = 50,
    ):
        super().__init__(modules)
        self.n, self.m, self.lambda_w = n, m, lambda_w
        self.decay, self.decay_end = decay, max(1, decay_end)
        mask_decay(0, decay, self.decay_end)  # refuse an unknown kind now
        self.dense: dict = {}
        self.log_every = max(1, log_every)
        self._changes = 0  # mask entries flipped since the last log entry
        self._step = 0

    def _mask(self, module: nn.Module) -> torch.Tensor:
        return structure.n_m(layers.matrix(module).detach().abs().float(), self.n, self.m)

    @torch.no_grad()
    def before_forward(self, step: int) -> None:
        beta = mask_decay(step, self.decay, self.decay_end)
        self._step = step
        previous = self.masks
        self.masks = {name: self._mask(module) for name, module in self.modules.items()}
        if previous:
            self._changes += sum(int((previous[n] != keep).sum()) for n, keep in self.masks.items())
        if step % self.log_every == 0:
            self.log.append({"step": step, "sparsity": self.sparsity(), "beta": beta, "flipped": self._changes})
            self._changes = 0
        for name, module in self.modules.items():
            self.dense[name] = module.weight.detach().clone()
            keep = layers.stored(module, self.masks[name]).to(module.weight.dtype)
            module.weight.mul_(keep + beta * (1 - keep))

    @torch.no_grad()
    def after_backward(self, step: int) -> None:
        for name, module in self.modules.items():
            module.weight.copy_(self.dense[name])
            if module.weight.grad is not None:
                pruned = ~layers.stored(module, self.masks[name])
                module.weight.grad.add_(self.lambda_w * pruned.to(module.weight.dtype) * module.weight)
        self.dense = {}

    def after_step(self, step: int) -> None:
        pass  # the dense weights train on

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        dense = {name: module.weight.detach().clone() for name, module in self.modules.items()}
        with torch.no_grad():
            for module in self.modules.values():
                module.weight.mul_(layers.stored(module, self._mask(module)).to(module.weight.dtype))
        try:
            yield
        finally:
            with torch.no_grad():
                for name, module in self.modules.items():
                    module.weight.copy_(dense[name])

    def finish(self) -> Masks:
        final = {name: self._mask(module) for name, module in self.modules.items()}
        if self.masks:
            self._changes += sum(int((self.masks[n] != keep).sum()) for n, keep in final.items())
        self.masks = final
        self.log.append({"step": self._step + 1, "sparsity": self.sparsity(), "beta": 0.0, "flipped": self._changes})
        self._changes = 0
        return super().finish()
