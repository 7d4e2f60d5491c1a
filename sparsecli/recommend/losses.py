"""The `loss` group of `sparse train-rec`: next-item losses over a model's hidden states.

Each option is a config class whose `__call__(h, positives, weights, bias, ctx)` returns the
mean loss over positions: h float [P, d] (one row per position with a target), positives
int64 [P] item numbers, weights [n_items, d] and bias [n_items] or None the output layer.
Sampled negatives never include the position's positive: uniform draws skip it exactly, and
shared (per-batch) draws that hit it are masked out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple, Optional

from sparsecli.schema import check, option

if TYPE_CHECKING:
    import torch


class LossContext(NamedTuple):
    generator: torch.Generator  # seeded per epoch: the same negatives on a resumed run
    log_popularity: torch.Tensor  # float [n_items]: log of each item's share of training interactions


@dataclass
class LossConfig:
    """Base of the `loss` group."""

    name: str = "?"

    def __call__(self, h, positives, weights, bias, ctx: LossContext) -> torch.Tensor:
        raise NotImplementedError


def _scores(h: torch.Tensor, weights: torch.Tensor, bias: Optional[torch.Tensor], items: torch.Tensor) -> torch.Tensor:
    """Scores of h's row p for items[p, :] ([P] or [P, k])."""
    import torch

    if items.dim() == 1:
        out = (h * weights[items]).sum(-1)
    else:
        out = torch.einsum("pd,pkd->pk", h, weights[items])
    return out + bias[items] if bias is not None else out


def sampled_scores(h, positives, weights, bias, k: int, ctx: LossContext):
    """(float32 [P] scores of the positives, float32 [P, k] of k uniform negatives each)."""
    negatives = uniform_negatives(positives, weights.shape[0], k, ctx.generator)
    return _scores(h, weights, bias, positives).float(), _scores(h, weights, bias, negatives).float()


def uniform_negatives(positives: torch.Tensor, n_items: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """k negatives per position, each uniform over the n_items - 1 items other than its
    positive (drawn from n_items - 1 values and shifted past the positive). int64 [P, k]."""
    import torch

    drawn = torch.randint(n_items - 1, (len(positives), k), generator=generator).to(positives.device)
    return drawn + (drawn >= positives.unsqueeze(1)).long()


def prior_logit(beta: float, negatives: int) -> float:
    """log(beta / k): the constant score that minimises beta softplus(-s) + k softplus(s), i.e.
    the loss of a model that knows nothing. The BCE-type losses add it to every score, so
    training starts at that optimum instead of reaching it by pushing every item embedding
    into one shared direction, which k sampled negatives per positive do first and which
    stalls learning (the prior-probability bias of RetinaNet, Lin et al., ICCV 2017). A
    constant: rankings do not change."""
    return math.log(beta / negatives)


@option("loss", "ce")
@dataclass
class CrossEntropy(LossConfig):
    """Full softmax cross-entropy over every item (SASRec+ / "Turning Dross Into Gold Loss",
    Klenitskiy & Vasilev, RecSys 2023)."""

    name: str = "ce"

    def __call__(self, h, positives, weights, bias, ctx):
        import torch.nn.functional as F

        from sparsecli.recommend.models.base import item_scores

        return F.cross_entropy(item_scores(h, weights, bias), positives)


class Sampler(Enum):
    uniform = "uniform"
    popularity = "popularity"  # proportional to training counts (in-batch-like), with logQ correction


@option("loss", "sampled_softmax")
@dataclass
class SampledSoftmax(LossConfig):
    """Softmax over the positive and k shared negatives, with the logQ correction
    s - log(k q(j)) (Bengio & Senecal 2008; Yi et al., RecSys 2019)."""

    name: str = "sampled_softmax"
    negatives: int = 256  # shared by every position of a batch
    sampler: Sampler = Sampler.uniform
    log_q: bool = True  # subtract log q(j): unbiased for the full softmax; a no-op shift for uniform

    def __post_init__(self) -> None:
        check(self.negatives >= 1, "loss.negatives", "must be >= 1", "pass e.g. 256")

    def __call__(self, h, positives, weights, bias, ctx):
        import torch
        import torch.nn.functional as F

        from sparsecli.recommend.models.base import item_scores

        n_items = weights.shape[0]
        if self.sampler == Sampler.uniform:
            negatives = torch.randint(n_items, (self.negatives,), generator=ctx.generator).to(h.device)
            log_q = torch.full((n_items,), -math.log(n_items), device=h.device)
        else:
            # drawn on the CPU, where the seeded generator lives
            negatives = torch.multinomial(
                ctx.log_popularity.exp(), self.negatives, replacement=True, generator=ctx.generator
            ).to(h.device)
            log_q = ctx.log_popularity.to(h.device)
        pos = _scores(h, weights, bias, positives)
        neg = item_scores(h, weights[negatives], bias[negatives] if bias is not None else None)
        if self.log_q:
            correction = math.log(self.negatives)
            pos = pos - log_q[positives] - correction
            neg = neg - log_q[negatives] - correction
        neg = neg.masked_fill(negatives.unsqueeze(0) == positives.unsqueeze(1), float("-inf"))
        logits = torch.cat([pos.unsqueeze(1), neg], dim=1).float()
        return F.cross_entropy(logits, torch.zeros(len(positives), dtype=torch.long, device=h.device))


@option("loss", "bce")
@dataclass
class BinaryCrossEntropy(LossConfig):
    """-log s(s+) - sum log(1 - s(s-)) over k uniform negatives per position: SASRec's own
    loss with k = 1."""

    name: str = "bce"
    negatives: int = 1  # the SASRec paper's one negative per position
    prior_offset: bool = True  # see prior_logit; log(1/k): no shift with the paper's one negative

    def __post_init__(self) -> None:
        check(self.negatives >= 1, "loss.negatives", "must be >= 1", "pass e.g. 1")

    def __call__(self, h, positives, weights, bias, ctx):
        import torch.nn.functional as F

        pos, neg = sampled_scores(h, positives, weights, bias, self.negatives, ctx)
        offset = prior_logit(1.0, self.negatives) if self.prior_offset else 0.0
        return (F.softplus(-(pos + offset)) + F.softplus(neg + offset).sum(dim=1)).mean()


@option("loss", "gbce")
@dataclass
class GeneralisedBCE(LossConfig):
    """gBCE (Petrov & Macdonald, RecSys 2023, gSASRec): BCE whose positive probability is
    raised to beta = alpha (t (1 - 1/alpha) + 1/alpha), alpha = k / (n_items - 1), which
    counters the overconfidence that k sampled negatives cause:
    loss = -beta log s(s+) - sum log(1 - s(s-))."""

    name: str = "gbce"
    negatives: int = 256  # gSASRec's k
    t: float = 0.75  # gSASRec's calibration; t = 0 is plain BCE, t = 1 calibrated to the full softmax
    prior_offset: bool = True  # see prior_logit: without it, k=256 stalled at popularity for 25 epochs on p5-beauty

    def __post_init__(self) -> None:
        check(self.negatives >= 1, "loss.negatives", "must be >= 1", "pass e.g. 256")
        check(0 <= self.t <= 1, "loss.t", "must be in [0, 1]", "pass e.g. 0.75")

    def beta(self, n_items: int) -> float:
        alpha = self.negatives / (n_items - 1)
        return alpha * (self.t * (1 - 1 / alpha) + 1 / alpha)

    def __call__(self, h, positives, weights, bias, ctx):
        import torch.nn.functional as F

        beta = self.beta(weights.shape[0])
        pos, neg = sampled_scores(h, positives, weights, bias, self.negatives, ctx)
        offset = prior_logit(beta, self.negatives) if self.prior_offset else 0.0
        return (beta * F.softplus(-(pos + offset)) + F.softplus(neg + offset).sum(dim=1)).mean()


@option("loss", "bpr")
@dataclass
class BPR(LossConfig):
    """-log s(s+ - s-), averaged over k uniform negatives (Rendle et al., UAI 2009)."""

    name: str = "bpr"
    negatives: int = 1

    def __post_init__(self) -> None:
        check(self.negatives >= 1, "loss.negatives", "must be >= 1", "pass e.g. 1")

    def __call__(self, h, positives, weights, bias, ctx):
        import torch.nn.functional as F

        pos, neg = sampled_scores(h, positives, weights, bias, self.negatives, ctx)
        return F.softplus(neg - pos.unsqueeze(1)).mean()
