"""Term weighting of learned sparse encoders as pure tensor functions (batch x vocabulary).

All of them run on the model's device; only the surviving nonzeros are moved to the CPU.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

CHUNK_ELEMENTS = 1 << 22  # logits per chunk in pooled_head: 16 MB of float32, measured fastest on a CPU


def splade(logits: Any, pool_mask: Any, pooling: str) -> Any:
    """w_j = pool over positions of log(1 + relu(logit_j)); positions outside pool_mask are ignored.

    logits: [batch, length, vocab] (any float dtype; overwritten under max pooling);
    pool_mask: [batch, length] bool; pooling: "max" (SPLADE v2, Formal et al.,
    arXiv:2109.10086) or "sum" (SPLADE, Formal et al., SIGIR 2021).
    Returns [batch, vocab] float32. For max pooling the max is taken before the activation,
    which is monotone, so the [batch, length, vocab] tensor is never transformed elementwise.
    """
    import torch

    if pooling == "max":
        masked = logits.masked_fill_(~pool_mask.unsqueeze(-1), float("-inf"))  # logits are ours to overwrite
        return torch.log1p(torch.relu(masked.amax(dim=1).float()))
    activated = torch.log1p(torch.relu(logits.float())) * pool_mask.unsqueeze(-1)
    return activated.sum(dim=1)


@contextmanager
def pooled_head(model: Any, pool_mask: Any, pooling: str) -> Iterator[None]:
    """Make the model's output projection return SPLADE weights [batch, 1, vocab] directly.

    The projection runs over a few positions at a time, each chunk pooled with `splade`
    and combined (max of maxima, sum of sums), so the [batch, length, vocab] logits tensor
    is never materialised: the same result with a fraction of the memory traffic, which
    dominates SPLADE encoding on a CPU.
    """
    import torch

    linear = model.get_output_embeddings()

    def forward(hidden: Any) -> Any:
        batch, length, _ = hidden.shape
        step = max(1, CHUNK_ELEMENTS // (batch * linear.out_features))
        pooled = None
        for start in range(0, length, step):
            logits = torch.nn.functional.linear(hidden[:, start : start + step], linear.weight, linear.bias)
            part = splade(logits, pool_mask[:, start : start + step], pooling)
            if pooled is None:
                pooled = part
            else:
                pooled = torch.maximum(pooled, part) if pooling == "max" else pooled + part
        return pooled.unsqueeze(1)

    linear.forward = forward  # an instance attribute shadows the class's forward for this pass
    try:
        yield
    finally:
        del linear.forward


def token_max(token_weights: Any, input_ids: Any, pool_mask: Any, vocab_size: int) -> Any:
    """w_j = max over positions holding token j of that position's weight (no expansion)."""
    import torch

    out = torch.zeros(input_ids.shape[0], vocab_size, dtype=torch.float32, device=input_ids.device)
    weights = (token_weights.float() * pool_mask).clamp_min(0)
    return out.scatter_reduce_(1, input_ids, weights, reduce="amax", include_self=True)


def drop_columns(weights: Any, columns: Any) -> Any:
    """Zero some vocabulary columns, e.g. [CLS], [SEP], [PAD]: never terms of a vector."""
    if len(columns):
        weights[:, columns] = 0
    return weights


def prune(weights: Any, top_k: int | None, threshold: float) -> Any:
    """Keep weights above `threshold`, then at most `top_k` per row."""
    import torch

    weights = torch.where(weights > threshold, weights, torch.zeros((), dtype=weights.dtype, device=weights.device))
    if top_k is not None and top_k < weights.shape[1]:
        values, columns = torch.topk(weights, top_k, dim=1, sorted=False)
        weights = torch.zeros_like(weights).scatter_(1, columns, values)
    return weights


def to_csr(weights: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense [batch, vocab] tensor -> (indptr, indices, data) on the CPU, columns ascending per row."""
    import torch

    rows, columns = torch.nonzero(weights, as_tuple=True)
    values = weights[rows, columns]
    counts = torch.bincount(rows, minlength=weights.shape[0])
    indptr = np.zeros(weights.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts.cpu().numpy(), out=indptr[1:])
    return indptr, columns.to(torch.int32).cpu().numpy(), values.float().cpu().numpy()
