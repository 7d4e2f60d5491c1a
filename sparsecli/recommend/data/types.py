"""What the readers, filters and splits pass between them.

Items and users are numbered 0..n-1 in order of first appearance in the file; their tokens
stay strings ("007" and "7" are two items). Models add 1 to an item number where 0 must mean
padding; nothing outside a model sees that shift.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class Interactions(NamedTuple):
    """A table of interactions in file order, with the vocabularies that number them.

    user, item: int32 [n]; time: float64 [n] or None when the source has no time column
    (the file order is then the time order); rating: float32 [n] or None.
    item_meta: {field: list of per-item values}, aligned with `items` (a token_seq field
    gives a list of strings per item, [] where empty; None for an item without a row).
    """

    users: list[str]
    items: list[str]
    user: np.ndarray
    item: np.ndarray
    time: Optional[np.ndarray]
    rating: Optional[np.ndarray]
    item_meta: dict
    source: str  # a label for logs: the file read


class Sequences(NamedTuple):
    """Each user's items in time order, as CSR: user u's items are items[indptr[u]:indptr[u+1]].

    indptr: int64 [n_users + 1]; items: int32 [nnz]; time: float64 [nnz] or None.
    """

    indptr: np.ndarray
    items: np.ndarray
    time: Optional[np.ndarray]

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row(self, u: int) -> np.ndarray:
        return self.items[self.indptr[u] : self.indptr[u + 1]]

    def coo(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `rows`, item) int64 pairs for every item of the given rows."""
        starts, stops = self.indptr[rows], self.indptr[rows + 1]
        counts = (stops - starts).astype(np.int64)
        at = np.repeat(np.arange(len(rows)), counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return at, self.items[np.repeat(starts, counts) + offsets].astype(np.int64)

    def item_counts(self, n_items: int) -> np.ndarray:
        """int64 [n_items]: how often each item occurs (on the training split: its popularity)."""
        return np.bincount(self.items, minlength=n_items)


class Targets(NamedTuple):
    """Held-out next items: user users[i] predicts targets[i] from its input sequence
    inputs.row(i) (every earlier interaction, in time order).

    users: int32 [m]; targets: int32 [m]; inputs: Sequences with m rows.
    """

    users: np.ndarray
    targets: np.ndarray
    inputs: Sequences


class Split(NamedTuple):
    """Training sequences (one row per user; the only rows any statistic may read) and the
    validation and test targets."""

    train: Sequences
    valid: Targets
    test: Targets
    policy: str  # how it was made, for the manifest: loo, temporal or session
    dropped: dict  # why users are not evaluated: {reason: count}


class Dataset(NamedTuple):
    """A loaded, filtered and split dataset: what the models and the evaluator receive."""

    users: list[str]
    items: list[str]
    split: Split
    item_meta: dict
    stats: dict  # counts before and after filtering, for the manifest and the log
