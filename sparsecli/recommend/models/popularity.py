"""MostPop: every user gets the items with the most training interactions (ties rank
pessimistically, like any tie). Counts come from the training split only."""

from __future__ import annotations


import numpy as np
import torch

from sparsecli.recommend.data.types import Sequences
from sparsecli.recommend.models.base import RecModel


class Popularity(RecModel):
    neural = False

    def __init__(self, n_items: int):
        super().__init__(n_items)
        self.register_buffer("counts", torch.zeros(n_items))

    def fit(self, train: Sequences) -> None:
        self.counts = torch.from_numpy(train.item_counts(self.n_items).astype(np.float32))

    def score(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        return self.counts.unsqueeze(0).repeat(len(rows), 1)
