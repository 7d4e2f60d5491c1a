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
    if len(table.items) < 2:
        from sparsecli.errors import InputError

        raise InputError(
            f"{len(table.items)} item left: nothing to rank",
            where=table.source,
            fix="check the item column and the filters",
        )
    _check_tokens(table.users, "user", table.source)
    _check_tokens(table.items, "item", table.source)
    parts = split.split(table, data.split)
    for name, targets in (("validation", parts.valid), ("test", parts.test)):
        if len(targets.users) == 0:
            from sparsecli.errors import InputError

            raise InputError(
                f"no user has a {name} target ({', '.join(f'{n} {why}' for why, n in parts.dropped.items()) or 'no data'})",
                where=table.source,
                fix="leave-one-out needs users with 3 interactions; lower data.filter settings or change data.split",
            )
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


def _check_tokens(tokens: list, what: str, source: str) -> None:
    """Ids must be TREC-safe: the runs write them as whitespace-separated fields."""
    bad = next((t for t in tokens if not t or any(c.isspace() for c in t)), None)
    if bad is not None:
        from sparsecli.errors import InputError

        raise InputError(
            f"{what} id {bad!r} is empty or holds whitespace, which TREC runs cannot carry",
            where=source,
            fix=f"map {what} ids to tokens without spaces",
        )
