"""Recovery of a pruned encoder by self-distillation: the dense model is the teacher, the
collection's own documents are the data, so no labels are needed.

The student matches the teacher's output at every real token (attention_mask = 1), by mean
squared error on:
- a masked-LM model (SPLADE): log(1 + ReLU(logits)), the term weights SPLADE max-pools
  (Formal et al., SIGIR 2021), so the pooled document vector is what is recovered;
- any other model: the last hidden state.

`masks_at(step)` gives the masks in force from a step on, or None to keep the current ones: a
fixed one-shot mask, or Zhu & Gupta's gradual schedule, pruning and distilling together
(schedules.gradual). Masks are re-applied after every optimizer step and the optimizer's state
is cleared where a new mask prunes (masks.py): AdamW's moments would otherwise move pruned
weights off zero.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence

import torch
from torch import nn

from sparsecli.sparsity import masks as mask_ops


class Recovered(NamedTuple):
    steps: int
    first_loss: float  # the first step's loss (one batch)
    last_loss: float  # the mean loss over the last 10% of steps
    log: list  # {"step", "loss", "sparsity"} every log_every steps


def targets(model: nn.Module, batch: dict) -> torch.Tensor:
    """The outputs distilled, float32 [tokens, features], real tokens only."""
    out = model(**batch)
    logits = getattr(out, "logits", None)
    values = torch.log1p(torch.relu(logits)) if logits is not None else out.last_hidden_state
    mask = batch.get("attention_mask")
    return values[mask.bool()] if mask is not None else values.reshape(-1, values.shape[-1])


def distill(
    student: nn.Module,
    teacher: nn.Module,
    batches: Sequence[dict],
    steps: int,
    lr: float,
    masks_at: Callable[[int], Optional[dict]],
    modules: dict,
    progress: Optional[Callable[[float], None]] = None,
    log_every: int = 10,
) -> Recovered:
    """Train `student` for `steps` AdamW steps (batches in turn, cycled) towards the frozen
    `teacher`. modules: {name: module} the masks name. Returns the losses and a log; the
    student ends with the last masks applied. Dropout draws from torch's global generator:
    seed it first for the same bytes."""
    teacher.eval()
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    current: dict = {}
    losses: list[float] = []
    log = []
    for step in range(steps):
        chosen = masks_at(step)
        if chosen is not None:
            current = chosen
            mask_ops.apply(modules, current)
            mask_ops.clear_optimizer_state(optimizer, modules, current)
        batch = batches[step % len(batches)]
        with torch.no_grad():
            goal = targets(teacher, batch)
        loss = nn.functional.mse_loss(targets(student, batch), goal)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        mask_ops.apply(modules, current)
        losses.append(float(loss.detach()))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            kept = sum(int(m.sum()) for m in current.values())
            total = sum(m.numel() for m in current.values())
            log.append({"step": step + 1, "loss": losses[-1], "sparsity": 1.0 - kept / total if total else 0.0})
        if progress is not None:
            progress(losses[-1])
    student.eval()
    tail = losses[-max(1, steps // 10) :] if losses else [float("nan")]
    return Recovered(steps, losses[0] if losses else float("nan"), sum(tail) / len(tail), log)
