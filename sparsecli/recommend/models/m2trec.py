"""M2TRec: a metadata-aware, item-ID-free, multi-task Transformer for next-item prediction
(Shalaby et al., "M2TRec: Metadata-aware Multi-task Transformer for Large-scale and Cold-start
free Session-based Recommendations", RecSys 2022).

- An item's vector is f(its metadata): each field's value embeddings (averaged over a
  token_seq's values) are concatenated and projected to `dim`, f = Linear + LayerNorm. There
  is no per-item parameter, so the model's size does not grow with the catalogue and an item
  never seen in training gets the vector of what it is.
- A causal Transformer (SASRec's blocks) reads the sequence of item vectors. The session
  vector at each position is the encoding at it (model.pool=last, as SASRec), or the mean of
  the encodings up to it (pool=mean, the paper's average pooling, made causal so that every
  position takes a loss).
- Heads: the next item, scored against every catalogue item's vector (the loss group's CE or
  sampled losses), and for each of `category_fields` the next item's value of that field
  (cross-entropy for one value, binary cross-entropy over the field's values for a token_seq
  such as genres), weighted by `lambda_category` and added to the loss.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from sparsecli.recommend.models.base import PAD, NextItemModel, Scorer
from sparsecli.recommend.models.features import ItemFeatures, field_mean
from sparsecli.recommend.models.sasrec import Transformer


class ItemEncoder(nn.Module):
    """Item vectors from metadata tables: [n_items, dim]; called with shifted item numbers
    (0 = padding) it gives their vectors, zero at padding."""

    def __init__(self, features: ItemFeatures, dim: int):
        super().__init__()
        self.names = list(features.names)
        width = max(8, dim // len(self.names))  # each field's share of the concatenation
        self.values = nn.ModuleList(nn.Embedding(v, width, padding_idx=0) for v in features.vocab)
        for index, table in enumerate(features.tables):
            self.register_buffer(f"table_{index}", torch.from_numpy(table), persistent=True)
        self.project = nn.Linear(width * len(self.names), dim)
        self.norm = nn.LayerNorm(dim)
        for embedding in self.values:
            nn.init.normal_(embedding.weight, std=0.02)
            with torch.no_grad():
                embedding.weight[0].zero_()

    def table(self, index: int) -> torch.Tensor:
        return getattr(self, f"table_{index}")

    def distinct(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(float [n_distinct, dim], int64 [n_items]): one vector per distinct metadata row, and
        the row each item is made of. Items made of the same metadata share one vector, bit for
        bit (a batched product can round identical rows differently)."""
        tables = [self.table(index) for index in range(len(self.values))]
        rows, inverse = torch.unique(torch.cat(tables, dim=1), dim=0, return_inverse=True)
        parts, start = [], 0
        for embedding, table in zip(self.values, tables):
            distinct = rows[:, start : start + table.shape[1]]
            start += table.shape[1]
            parts.append(field_mean(embedding, distinct))
        return self.norm(self.project(torch.cat(parts, dim=-1))), inverse

    def all_items(self) -> torch.Tensor:
        """float [n_items, dim]: every catalogue item's vector."""
        vectors, inverse = self.distinct()
        return vectors[inverse]

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        vectors = self.all_items()
        padded = torch.cat([torch.zeros_like(vectors[:1]), vectors])
        return padded[inputs]


def running_mean(states: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Each position's mean of `states` (float [B, L, d]) over the real positions (bool [B, L])
    up to and including it: float [B, L, d], 0 before the first real one."""
    real = real.unsqueeze(-1).to(states.dtype)
    return (states * real).cumsum(1) / real.cumsum(1).clamp(min=1)


class M2TRec(NextItemModel):
    def __init__(self, n_items: int, config, features: ItemFeatures):
        super().__init__(n_items)
        self.max_len = config.max_len
        self.encoder = Transformer(
            1, config.max_len, config.dim, config.layers, config.heads, config.dropout, True,
            items=ItemEncoder(features, config.dim),
        )  # fmt: skip
        self.lambda_category = config.lambda_category
        self.pool = config.pool
        self.heads_for = [features.names.index(name) for name in config.category_fields]
        self.multi = [features.multi[i] for i in self.heads_for]
        self.category_heads = nn.ModuleList(nn.Linear(config.dim, features.vocab[i]) for i in self.heads_for)

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        states = self.encoder(inputs)
        return running_mean(states, inputs != PAD) if self.pool == "mean" else states

    def last_hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.pool == "mean" or self.training:  # a mean needs every position's encoding
            return super().last_hidden(inputs)
        return self.encoder.last(inputs)

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.encoder.items.all_items(), None

    def scorer(self) -> Scorer:
        """Scores each distinct item vector once: items made of the same metadata tie exactly."""
        vectors, inverse = self.encoder.items.distinct()
        return Scorer(self.user_vectors, vectors, None, inverse)

    def auxiliary_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> Optional[torch.Tensor]:
        """lambda_category * sum over category fields of the next item's field loss, from the
        hidden states of the positions taking a loss ([m, dim]) and their target items ([m])."""
        if not self.category_heads or self.lambda_category == 0:
            return None
        total = hidden.new_zeros(())
        for head, index, multi in zip(self.category_heads, self.heads_for, self.multi):
            logits = head(hidden)
            values = self.encoder.items.table(index)[targets]  # [m, width], 0 = none
            if multi:  # several values (genres): one binary label per value, none left out
                labels = torch.zeros_like(logits).scatter_(1, values, 1.0)
                total = total + nn.functional.binary_cross_entropy_with_logits(logits[:, 1:], labels[:, 1:])
            else:
                known = values[:, 0] != PAD
                if known.any():
                    total = total + nn.functional.cross_entropy(logits[known], values[known, 0])
        return self.lambda_category * total
