"""SASRec: a causal Transformer over the item sequence (Kang & McAuley, ICDM 2018), with the
output layer tied to the item embeddings, trained with the loss at every position."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from sparsecli.recommend.models.base import PAD, NextItemModel


def attention_mask(inputs: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    """bool [B*heads, L, L], True = may not attend: later positions (causal) and padding,
    except each position's own, so no row is all masked (which would give NaN)."""
    length = inputs.shape[1]
    own = torch.eye(length, dtype=torch.bool, device=inputs.device)
    blocked = (inputs == PAD).unsqueeze(1).expand(-1, length, -1) & ~own
    if causal:
        blocked = blocked | torch.triu(torch.ones(length, length, dtype=torch.bool, device=inputs.device), 1)
    return blocked.repeat_interleave(heads, dim=0)


class Transformer(nn.Module):
    """Item + learned position embeddings, pre-LayerNorm blocks, a final LayerNorm."""

    def __init__(self, vocab: int, max_len: int, dim: int, layers: int, heads: int, dropout: float, causal: bool):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.items = nn.Embedding(vocab, dim, padding_idx=PAD)
        self.positions = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        with torch.no_grad():
            self.items.weight[PAD].zero_()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.items(inputs) + self.positions.weight[-inputs.shape[1] :]
        x = self.dropout(x) * (inputs != PAD).unsqueeze(-1)
        x = self.blocks(x, mask=attention_mask(inputs, self.heads, self.causal))
        return self.norm(x)


class SASRec(NextItemModel):
    def __init__(self, n_items: int, config):
        super().__init__(n_items)
        self.max_len = config.max_len
        self.encoder = Transformer(
            n_items + 1, config.max_len, config.dim, config.layers, config.heads, config.dropout, True
        )

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs)

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.encoder.items.weight[1:], None
