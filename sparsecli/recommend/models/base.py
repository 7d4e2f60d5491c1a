"""What every `model` option builds, and the batch layout the neural ones share.

Neural models read item numbers shifted by one (0 is padding), left-padded to a fixed length,
so the latest item always sits at the last position: [B, L] int64.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from sparsecli.recommend.data.types import Sequences

PAD = 0


def left_padded(seqs: Sequences, rows: np.ndarray, length: int, reserve: int = 0, trim: bool = False) -> torch.Tensor:
    """The last `length - reserve` items of each row, shifted by one and left-padded with PAD
    to `length` (the last `reserve` columns stay PAD for the caller, e.g. a [mask] token).
    trim: drop the columns that are PAD in every row (what a model computes for the real
    positions does not change). int64 [len(rows), <= length]."""
    starts, stops = seqs.indptr[rows], seqs.indptr[rows + 1]
    if trim:
        length = int(min(length, max(1, int((stops - starts).max(initial=0))) + reserve))
    keep = length - reserve
    starts = np.maximum(starts, stops - keep)
    counts = (stops - starts).astype(np.int64)
    out = np.zeros((len(rows), length), dtype=np.int64)
    row_index = np.repeat(np.arange(len(rows)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = keep - np.repeat(counts, counts) + offsets
    source = np.repeat(starts, counts) + offsets
    out[row_index, cols] = seqs.items[source].astype(np.int64) + 1
    return torch.from_numpy(out)


def item_scores(hidden: torch.Tensor, weights: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """hidden [B, d] @ weights [n_items, d].T (+ bias [n_items]): float32 [B, n_items], a new tensor."""
    scores = (hidden @ weights.T).float()
    return scores + bias.float() if bias is not None else scores


class Scorer(NamedTuple):
    """What ranking asks of a model (RecModel.scorer()).

    users(seqs, rows) -> float [len(rows), d], user vectors; with `weights` (float
    [n_items, d]) and `bias` ([n_items] or None) a user's scores are users @ weights.T + bias.
    Without weights, users(...) gives the scores themselves, float [len(rows), n_items], as a
    new tensor the ranking may overwrite.

    columns (int64 [n_items] or None): where items share vectors (M2TRec's items made of the
    same metadata), `weights` holds each distinct vector once and item i scores with row
    columns[i]: (users @ weights.T)[:, columns] + bias. Items sharing a vector then tie
    exactly; a product over repeated rows can round them apart by a float step or two."""

    users: Callable[[Sequences, np.ndarray], torch.Tensor]
    weights: Optional[torch.Tensor] = None
    bias: Optional[torch.Tensor] = None
    columns: Optional[torch.Tensor] = None

    def scores(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        """float32 [len(rows), n_items], a new tensor."""
        out = self.users(seqs, rows)
        if self.weights is None:
            return out.float()
        if self.columns is None:
            return item_scores(out, self.weights, self.bias)
        return item_scores(out, self.weights, None)[:, self.columns] + (0 if self.bias is None else self.bias.float())


class RecModel(nn.Module):
    """A next-item model over n_items items.

    score(seqs, rows) -> float32 [len(rows), n_items]: how much each user (row of `seqs`, its
    history in time order) would take each item next; a new tensor the caller may change. Neural models also give
    `hidden(inputs)` [B, L, d] and `output_weights()` ([n_items, d], bias [n_items] or None)
    for the losses; non-neural ones are fitted in closed form by `fit(train)`.
    """

    neural = True

    def __init__(self, n_items: int):
        super().__init__()
        self.n_items = n_items

    def fit(self, train: Sequences) -> None:
        raise NotImplementedError

    def training_batch(self, windows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs [B, L], targets [B, L] with -1 where no loss is taken) from windows of
        shifted item numbers [B, L+1], left-padded."""
        raise NotImplementedError

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def output_weights(self) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        raise NotImplementedError

    def auxiliary_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> Optional[torch.Tensor]:
        """A loss added to the next-item loss (multi-task models), from the hidden states of the
        positions taking a loss [m, d] and their target items [m]; None: none."""
        return None

    def score(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def scorer(self) -> Scorer:
        """How ranking scores this model's users: factored where the model is."""
        return Scorer(self.score)


class NextItemModel(RecModel):
    """Causal models (SASRec, GRU4Rec): the loss is taken at every position, each predicting
    the item after it; a user is scored from the last position."""

    def training_batch(self, windows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = windows[:, :-1]
        # no loss where the input is padding (a user's first item predicted from nothing) or
        # the target is (PAD - 1 = -1)
        return inputs, torch.where(inputs == PAD, -1, windows[:, 1:] - 1)

    def last_hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """hidden(inputs)[:, -1], [B, d]; models may compute it with less work."""
        return self.hidden(inputs)[:, -1]

    def user_vectors(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        """The last position's hidden state: float [len(rows), d]."""
        device = next(self.parameters()).device
        return self.last_hidden(left_padded(seqs, rows, self.max_len, trim=True).to(device))

    def score(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        return self.scorer().scores(seqs, rows)

    def scorer(self) -> Scorer:
        return Scorer(self.user_vectors, *self.output_weights())
