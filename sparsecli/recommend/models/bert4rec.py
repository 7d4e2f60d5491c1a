"""BERT4Rec: a bidirectional Transformer trained by the cloze task (Sun et al., CIKM 2019):
random positions are replaced by a [mask] token and predicted; a user is scored by appending
[mask] after the history."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from sparsecli.recommend.data.types import Sequences
from sparsecli.recommend.models.base import PAD, RecModel, Scorer, left_padded
from sparsecli.recommend.models.sasrec import Transformer


class BERT4Rec(RecModel):
    def __init__(self, n_items: int, config):
        super().__init__(n_items)
        self.max_len, self.mask_prob = config.max_len, config.mask_prob
        self.mask_token = n_items + 1
        self.encoder = Transformer(
            n_items + 2, config.max_len, config.dim, config.layers, config.heads, config.dropout, False
        )
        self.head = nn.Sequential(nn.Linear(config.dim, config.dim), nn.GELU(), nn.LayerNorm(config.dim))
        self.bias = nn.Parameter(torch.zeros(n_items))

    def training_batch(self, windows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Cloze: each item is masked with probability mask_prob; a window with no mask gets
        its last item masked (so every window teaches next-item prediction too)."""
        inputs = windows[:, -self.max_len :].clone()  # windows hold max_len + 1 items at most
        real = inputs != PAD
        masked = (torch.rand(inputs.shape, generator=generator) < self.mask_prob) & real
        none = ~masked.any(dim=1)
        masked[none, -1] = real[none, -1]
        targets = torch.where(masked, inputs - 1, torch.full_like(inputs, -1))
        inputs[masked] = self.mask_token
        return inputs, targets

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(inputs))

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.encoder.items.weight[1 : self.n_items + 1], self.bias

    def user_vectors(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        """The head's output at a [mask] appended after the history: float [len(rows), d]."""
        inputs = left_padded(seqs, rows, self.max_len, reserve=1, trim=True)
        inputs[:, -1] = self.mask_token
        return self.head(self.encoder.last(inputs.to(self.bias.device)))

    def score(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        return self.scorer().scores(seqs, rows)

    def scorer(self) -> Scorer:
        return Scorer(self.user_vectors, *self.output_weights())
