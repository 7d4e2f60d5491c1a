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
        users, items = train.coo(np.arange(len(train.indptr) - 1))
        x = torch.zeros(len(train.indptr) - 1, self.n_items, device=self.weights.device)
        x[torch.from_numpy(users).to(x.device), torch.from_numpy(items).to(x.device)] = 1.0
        gram = (x.T @ x).double()  # float64: the inverse of a large Gram matrix loses digits in float32
        gram.diagonal().add_(self.l2)
        p = torch.linalg.inv(gram)
        b = -p / p.diagonal()
        b.diagonal().zero_()
        self.weights = b.float()

    def score(self, seqs: Sequences, rows: np.ndarray) -> torch.Tensor:
        at, items = seqs.coo(rows)
        x = torch.zeros(len(rows), self.n_items, device=self.weights.device)
        x[torch.from_numpy(at).to(x.device), torch.from_numpy(items).to(x.device)] = 1.0
        return x @ self.weights
