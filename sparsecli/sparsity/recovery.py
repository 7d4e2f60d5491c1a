"""Recovery of a pruned encoder by self-distillation: the dense model is the teacher, the
collection's own documents are the data, so no labels are needed.

The student matches the teacher's output at every real token (attention_mask = 1), by mean
squared error on:
- a masked-LM model (SPLADE): log(1 + ReLU(logits)), the term weights SPLADE max-pools
  (Formal et al., SIGIR 2021), so the pooled document vector is what is recovered;
- any other model: the last hidden state.

The masks during training come from a training.Controller: one-shot masks held fixed,
Zhu & Gupta's gradual schedule (pruning and distilling together), iterative magnitude pruning
with rewinding, or N:M by SR-STE. The controller re-applies masks after every optimizer step
and clears the optimizer's state where a weight is newly pruned.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence

import torch
from torch import nn

from sparsecli.sparsity.training import Controller


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
    control: Controller,
    progress: Optional[Callable[[float], None]] = None,
    log_every: int = 10,
) -> Recovered:
    """Train `student` for `steps` AdamW steps (batches in turn, cycled) towards the frozen
    `teacher`, with `control` keeping its masks. Returns the losses and a log; the student
    ends with control.finish()'s masks applied. Dropout draws from torch's global generator:
    seed it first for the same bytes."""
    teacher.eval()
    student.train()
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.0)
    control.bind(optimizer)
    losses: list[float] = []
    log = []
    for step in range(steps):
        control.before_forward(step)
        batch = batches[step % len(batches)]
        with torch.no_grad():
            goal = targets(teacher, batch)
        loss = nn.functional.mse_loss(targets(student, batch), goal)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        control.after_backward(step)
        optimizer.step()
        control.after_step(step)
        losses.append(float(loss.detach()))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            log.append({"step": step + 1, "loss": losses[-1], "sparsity": control.sparsity()})
        if progress is not None:
            progress(losses[-1])
    control.finish()
    student.eval()
    tail = losses[-max(1, steps // 10) :] if losses else [float("nan")]
    return Recovered(steps, losses[0] if losses else float("nan"), sum(tail) / len(tail), log)
