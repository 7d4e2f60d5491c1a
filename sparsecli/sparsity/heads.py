"""Whole attention heads: find each attention block's projections, score its heads, and
give the masks that remove the lowest-scored ones, zeros in place (no change of shapes,
unlike transformers' `prune_heads`, so the checkpoint still loads as the original class).

A head h of a block with H heads of width d = hidden / H owns rows h*d:(h+1)*d of the query,
key and value projections (their output dimension) and the same columns of the output
projection (its input dimension). Removing it zeroes all four slices and the q/k/v biases of
those rows: its attention output is then exactly 0 (Michel et al., "Are Sixteen Heads Really
Better than One?", NeurIPS 2019, mask heads the same way).

Projection names are recognised for the BERT family (`attention.self.query|key|value` and
`attention.output.dense`), DistilBERT (`attention.q_lin|k_lin|v_lin|out_lin`) and LLaMA-style
decoders (`self_attn.q_proj|k_proj|v_proj|o_proj`, without grouped-query attention).
"""

from __future__ import annotations

import re
from typing import Mapping, NamedTuple, Optional

import torch

from sparsecli.sparsity import layers, structure

# (query, key, value, output) suffixes after the block's common prefix
FAMILIES = (
    ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"),
    ("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"),
    ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"),
)


class Block(NamedTuple):
    prefix: str
    names: tuple  # (query, key, value, output) qualified names


def blocks(names: Mapping[str, object]) -> list[Block]:
    """The attention blocks whose four projections are all among `names`, in model order."""
    found = []
    for name in names:
        for family in FAMILIES:
            match = re.match(rf"^(.*?){re.escape(family[0])}$", name)
            if match:
                prefix = match.group(1)
                chosen = tuple(prefix + suffix for suffix in family)
                if all(n in names for n in chosen):
                    found.append(Block(prefix, chosen))
    return found


def head_masks(
    modules: Mapping[str, torch.nn.Module],
    block: Block,
    n_heads: int,
    sparsity: float,
    generator: Optional[torch.Generator] = None,
) -> dict:
    """Keep masks [out, in] of the block's four projections with floor(sparsity * n_heads)
    heads removed, the lowest by summed |W| over their four slices (ties: lower head first);
    with a generator, by seeded random scores instead (random pruning).

    Raises ValueError when the widths do not split into n_heads equal heads."""
    q, k, v, o = (layers.matrix(modules[n]).detach().abs().float() for n in block.names)
    width = q.shape[0]
    if width % n_heads or k.shape[0] != width or v.shape[0] != width or o.shape[1] != width:
        raise ValueError(
            f"attention {block.prefix or '(top)'}: widths q {q.shape[0]}, k {k.shape[0]}, v {v.shape[0]}, "
            f"o {o.shape[1]} do not split into {n_heads} equal heads (grouped-query attention is not supported)"
        )
    d = width // n_heads
    scores = sum(m.reshape(n_heads, d, -1).sum(dim=(1, 2)) for m in (q, k, v)) + o.reshape(o.shape[0], n_heads, d).sum(
        dim=(0, 2)
    )
    if generator is not None:
        scores = torch.rand(n_heads, generator=generator)
    keep_heads = structure.per_layer(scores.unsqueeze(0), sparsity)[0]
    rows = keep_heads.repeat_interleave(d)
    out = {n: rows.unsqueeze(1).expand_as(m).clone() for n, m in zip(block.names[:3], (q, k, v))}
    out[block.names[3]] = rows.unsqueeze(0).expand_as(o).clone()
    return out


@torch.no_grad()
def zero_biases(modules: Mapping[str, torch.nn.Module], block: Block, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero the query, key and value biases of removed heads, so a removed head computes
    nothing at all (the output projection's zero columns already cancel what it would give)."""
    for name in block.names[:3]:
        bias = getattr(modules[name], "bias", None)
        if bias is not None:
            bias.mul_(masks[name][:, 0].to(bias.dtype))
