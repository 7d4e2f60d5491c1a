"""SASRec: a causal Transformer over the item sequence (Kang & McAuley, ICDM 2018), trained
with the loss at every position. The output layer is the item embeddings (the paper's), or a
separate embedding with model.tie_output=false (gSASRec's reference code, Petrov & Macdonald 2023)."""

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

    def __init__(
        self,
        vocab: int,
        max_len: int,
        dim: int,
        layers: int,
        heads: int,
        dropout: float,
        causal: bool,
        items: Optional[nn.Module] = None,
    ):
        """items: a module giving the vectors of shifted item numbers [B, L] -> [B, L, dim] in
        place of an ID embedding table (M2TRec's metadata encoder)."""
        super().__init__()
        self.heads, self.causal = heads, causal
        self.items = items if items is not None else nn.Embedding(vocab, dim, padding_idx=PAD)
        self.positions = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        block = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        if items is None:
            nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        if items is None:
            with torch.no_grad():
                self.items.weight[PAD].zero_()

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        """Item + position embeddings, dropped out, zero at padding: [B, L, d]."""
        x = self.items(inputs) + self.positions.weight[-inputs.shape[1] :]
        return self.dropout(x) * (inputs != PAD).unsqueeze(-1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.embed(inputs), mask=attention_mask(inputs, self.heads, self.causal))
        return self.norm(x)

    def last(self, inputs: torch.Tensor) -> torch.Tensor:
        """forward(inputs)[:, -1] in eval mode (no dropout): [B, d]. The last block computes
        attention and feed-forward for the last position only, which sees every key whether the
        encoder is causal or not: about half the work of two blocks when every user of a
        collection is scored. The last position is never padding (an item, or BERT4Rec's [mask])."""
        x = self.embed(inputs)
        *first, final = self.blocks.layers
        mask = attention_mask(inputs, self.heads, self.causal) if first else None
        for block in first:
            x = block(x, src_mask=mask)
        padding = inputs == PAD
        padding[:, -1] = False
        keys = final.norm1(x)
        y = x[:, -1:] + final.self_attn(keys[:, -1:], keys, keys, key_padding_mask=padding, need_weights=False)[0]
        y = y + final.linear2(final.activation(final.linear1(final.norm2(y))))
        return self.norm(y[:, 0])


class SASRec(NextItemModel):
    def __init__(self, n_items: int, config):
        super().__init__(n_items)
        self.max_len = config.max_len
        self.encoder = Transformer(
            n_items + 1, config.max_len, config.dim, config.layers, config.heads, config.dropout, True
        )
        self.output = None
        if not config.tie_output:
            self.output = nn.Parameter(torch.empty(n_items, config.dim))
            nn.init.normal_(self.output, std=0.02)

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.encoder(inputs)

    def last_hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        return super().last_hidden(inputs) if self.training else self.encoder.last(inputs)

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        if self.output is not None:
            return self.output, None
        return self.encoder.items.weight[1:], None
