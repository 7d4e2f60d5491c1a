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
        """Packed, so the padding never enters the GRU state: a user's output does not
        depend on how much padding its batch has."""
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        length = inputs.shape[1]
        sizes = (inputs != PAD).sum(dim=1).clamp(min=1)
        shift = (torch.arange(length, device=inputs.device).unsqueeze(0) + (length - sizes).unsqueeze(1)) % length
        right = inputs.gather(1, shift)  # left-padded -> right-padded
        packed = pack_padded_sequence(
            self.dropout(self.items(right)), sizes.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=length)
        back = (torch.arange(length, device=inputs.device).unsqueeze(0) - (length - sizes).unsqueeze(1)) % length
        return self.project(out.gather(1, back.unsqueeze(-1).expand(-1, -1, out.shape[-1])))

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.items.weight[1:], None
