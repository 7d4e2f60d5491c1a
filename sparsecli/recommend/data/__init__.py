"""Interaction data for `sparse train-rec`: readers (read.py), time order, de-duplication and
k-core filtering (filters.py), and splits (split.py), joined by `load`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from sparsecli.recommend.data.config import RecDataConfig
    from sparsecli.recommend.data.types import Dataset


def load(data: "RecDataConfig", data_root: Optional[str]) -> "Dataset":
    """Read, order, filter and split `data`. Raises InputError (file:line) for bad files."""
    import numpy as np

    from sparsecli.recommend.data import filters, read, split
    from sparsecli.recommend.data.types import Dataset

    table = read.read(data, data_root)
    raw = {"users": len(table.users), "items": len(table.items), "interactions": len(table.user)}
    table = filters.time_order(table)
    table = filters.dedup(table, data.filter.dedup)
    table = filters.k_core(table, data.filter.k_core, data.filter.min_user)
    if len(table.user) == 0:
        from sparsecli.errors import ConfigError

        raise ConfigError(
            f"no interactions left after filtering {table.source}",
            where="data.filter",
            fix="lower data.filter.k_core or data.filter.min_user",
        )
    parts = split.split(table, data.split)
    train_lengths = parts.train.lengths()
    stats = {
        "read": raw,
        "kept": {"users": len(table.users), "items": len(table.items), "interactions": len(table.user)},
        "time": "file order" if table.time is None else "time column",
        "split": parts.policy,
        "train_interactions": int(parts.train.indptr[-1]),
        "valid_users": len(parts.valid.users),
        "test_users": len(parts.test.users),
        "not_evaluated": parts.dropped,
        "train_length": {"mean": float(np.mean(train_lengths)), "max": int(train_lengths.max(initial=0))},
    }
    return Dataset(table.users, table.items, parts, table.item_meta, stats)
