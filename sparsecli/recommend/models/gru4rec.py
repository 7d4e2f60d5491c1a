"""GRU4Rec: a GRU over the item sequence (Hidasi et al., ICLR 2016), here as a next-item model
with the loss at every position and an output layer tied to the item embeddings, the form
that with cross-entropy is competitive with Transformers (Hidasi & Czapp, RecSys 2023)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from sparsecli.recommend.models.base import PAD, NextItemModel


class GRU4Rec(NextItemModel):
    def __init__(self, n_items: int, config):
        super().__init__(n_items)
        self.max_len = config.max_len
        self.items = nn.Embedding(n_items + 1, config.dim, padding_idx=PAD)
        self.dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(config.dim, config.hidden, config.layers, batch_first=True)
        self.project = nn.Linear(config.hidden, config.dim)
        nn.init.normal_(self.items.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[PAD].zero_()

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.dropout(self.items(inputs)))  # left padding: zeros before the history
        return self.project(out)

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.items.weight[1:], None
