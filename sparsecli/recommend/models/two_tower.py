"""A two-tower retrieval model with self-supervised item learning by feature masking (Yao et
al., "Self-supervised Learning for Large-scale Item Recommendations", CIKM 2021).

- Item tower: the item's ID embedding and each metadata field's value embeddings (averaged
  over a token_seq's values), concatenated, through a two-layer MLP to `dim`.
- User tower: the running mean of the item-tower vectors of the history (causal: position t
  sees items 1..t), through a linear layer; the last position is the user vector.
- Main loss: the loss group's; `loss=sampled_softmax loss.sampler=popularity` is the paper's
  batch softmax with sampling-bias (logQ) correction, negatives drawn as in-batch ones are.
- Self-supervised loss (`ssl`), weighted by `alpha`: for the batch's distinct target items,
  two views whose feature fields (the ID counts as one) are split in two complementary halves,
  each view keeping one half; InfoNCE between the views at `temperature`, other items in the
  batch as negatives. `rfm` splits the fields at random; `cfm` draws a seed field and masks
  it with the fields of highest mutual information with it (correlated_groups), computed from
  the training interactions, so a view cannot recover what it lost from what it kept.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from sparsecli.recommend.models.base import PAD, NextItemModel
from sparsecli.recommend.models.features import ItemFeatures, field_mean


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(A; B) in nats from paired samples of two discrete variables (int arrays [n]): the
    plug-in estimate, sum over observed pairs of p(a,b) log p(a,b) / (p(a) p(b))."""
    n = len(a)
    if n == 0:
        return 0.0
    _, a_codes, a_counts = np.unique(a, return_inverse=True, return_counts=True)
    _, b_codes, b_counts = np.unique(b, return_inverse=True, return_counts=True)
    pairs, pair_counts = np.unique(a_codes.astype(np.int64) * len(b_counts) + b_codes, return_counts=True)
    pa, pb = a_counts[pairs // len(b_counts)] / n, b_counts[pairs % len(b_counts)] / n
    joint = pair_counts / n
    return float((joint * np.log(joint / (pa * pb))).sum())


def mi_matrix(columns: list[np.ndarray]) -> np.ndarray:
    """Pairwise mutual information of feature columns (int [n] each, one row per training
    interaction): float64 [F, F], the diagonal each field's entropy."""
    n = len(columns)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            out[i, j] = out[j, i] = mutual_information(columns[i], columns[j])
    return out


def training_columns(features: ItemFeatures, items: np.ndarray) -> list[np.ndarray]:
    """The feature fields of the item of every training interaction (items: int [n], 0-based):
    the ID, then each metadata field's first value (0 = none)."""
    return [items.astype(np.int64), *(table[items, 0] for table in features.tables)]


def correlated_groups(mi: np.ndarray) -> list[list[int]]:
    """For each seed field s, the fields CFM masks with it: s and the ceil(F/2) - 1 others of
    highest I(s; .), ties by field order (Yao et al. 2021, Sec. 3.3)."""
    fields = mi.shape[0]
    size = (fields + 1) // 2
    groups = []
    for seed in range(fields):
        others = sorted((f for f in range(fields) if f != seed), key=lambda f: (-mi[seed, f], f))
        groups.append(sorted([seed, *others[: size - 1]]))
    return groups


class ItemTower(nn.Module):
    def __init__(self, n_items: int, features: ItemFeatures, dim: int, field_dim: int):
        super().__init__()
        self.ids = nn.Embedding(n_items, field_dim)
        self.values = nn.ModuleList(nn.Embedding(v, field_dim, padding_idx=0) for v in features.vocab)
        for index, table in enumerate(features.tables):
            self.register_buffer(f"table_{index}", torch.from_numpy(table), persistent=True)
        width = field_dim * (1 + len(self.values))
        self.mlp = nn.Sequential(nn.Linear(width, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
        self.fields = 1 + len(self.values)  # the ID is field 0

    def forward(self, items: torch.Tensor, keep: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Vectors of 0-based item numbers [m] -> [m, dim]; keep: bool [m, fields], False zeroes
        that field's embedding (a masked view)."""
        parts = [self.ids(items)]
        for index, embedding in enumerate(self.values):
            parts.append(field_mean(embedding, getattr(self, f"table_{index}")[items]))
        stacked = torch.stack(parts, dim=1)  # [m, fields, field_dim]
        if keep is not None:
            stacked = stacked * keep.unsqueeze(-1).to(stacked.dtype)
        return self.mlp(stacked.flatten(1))


class TwoTower(NextItemModel):
    def __init__(self, n_items: int, config, features: ItemFeatures, groups: Optional[list] = None):
        super().__init__(n_items)
        self.max_len = config.max_len
        self.items = ItemTower(n_items, features, config.dim, config.field_dim)
        self.user = nn.Linear(config.dim, config.dim)
        self.ssl, self.alpha, self.temperature = config.ssl, config.alpha, config.temperature
        self.groups = groups  # cfm: the fields masked with each seed (correlated_groups)

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        real = (inputs != PAD).unsqueeze(-1).float()
        vectors = self.items((inputs - 1).clamp(min=0).flatten()).view(*inputs.shape, -1) * real
        running = vectors.cumsum(1) / real.cumsum(1).clamp(min=1.0)  # the history's mean so far
        return self.user(running)

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        device = self.user.weight.device
        return self.items(torch.arange(self.n_items, device=device)), None

    def _views(self, m: int, generator: torch.Generator) -> torch.Tensor:
        """bool [m, fields]: the fields view one keeps (view two keeps the rest)."""
        fields = self.items.fields
        if self.ssl == "cfm":
            seeds = torch.randint(fields, (m,), generator=generator)
            masked = torch.zeros(len(self.groups), fields, dtype=torch.bool)
            for seed, group in enumerate(self.groups):
                masked[seed, group] = True
            return ~masked[seeds]
        order = torch.rand(m, fields, generator=generator).argsort(dim=1)
        return order < (fields + 1) // 2  # rfm: a random half of the fields

    def auxiliary_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> Optional[torch.Tensor]:
        if self.ssl == "none" or self.alpha == 0:
            return None
        items = torch.unique(targets)
        if len(items) < 2:
            return None
        generator = torch.Generator().manual_seed(int(targets.sum()))  # a batch's views: a function of the batch
        keep = self._views(len(items), generator).to(items.device)
        one = nn.functional.normalize(self.items(items, keep), dim=-1)
        two = nn.functional.normalize(self.items(items, ~keep), dim=-1)
        logits = one @ two.T / self.temperature
        return self.alpha * nn.functional.cross_entropy(logits, torch.arange(len(items), device=items.device))
