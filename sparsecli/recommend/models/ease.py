"""EASE: a closed-form item-item model (Steck, WWW 2019). With X the binary user-item matrix
of the training split, P = (X^T X + lambda I)^-1 and B = I - P diag(1/diag(P)), so diag(B) = 0;
a user with history x is scored x B."""

from __future__ import annotations


import numpy as np
import torch

from sparsecli.recommend.data.types import Sequences
from sparsecli.recommend.models.base import RecModel


class EASE(RecModel):
    neural = False

    def __init__(self, n_items: int, l2: float):
        super().__init__(n_items)
        self.l2 = l2
        self.register_buffer("weights", torch.zeros(n_items, n_items))

    def fit(self, train: Sequences) -> None:
        users = np.repeat(np.arange(len(train.indptr) - 1), train.lengths())
        x = torch.zeros(len(train.indptr) - 1, self.n_items)
        x[torch.from_numpy(users), torch.from_numpy(train.items.astype(np.int64))] = 1.0
        gram = (x.T @ x).double()  # float64: the inverse of a large Gram matrix loses digits in float32
        gram.diagonal().add_(self.l2)
        p = torch.linalg.inv(gram)
        b = -p / p.diagonal()
        b.diagonal().zero_()
        self.weights = b.float()

    def score(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        counts = seqs.indptr[rows + 1] - seqs.indptr[rows]
        x = torch.zeros(len(rows), self.n_items)
        index = np.concatenate([seqs.row(r) for r in rows]).astype(np.int64) if counts.sum() else np.zeros(0, np.int64)
        x[torch.from_numpy(np.repeat(np.arange(len(rows)), counts)), torch.from_numpy(index)] = 1.0
        return x @ self.weights
