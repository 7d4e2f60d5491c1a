"""Time order, de-duplication and k-core filtering: Interactions in, Interactions out.

Every function keeps rows in a stable order, so ties in time keep their file order, and
closes up the numbering of what is left (keeping the file's order of first appearance):
the catalog is exactly the items that remain.
"""

from __future__ import annotations

import numpy as np

from sparsecli.recommend.data.config import Dedup
from sparsecli.recommend.data.types import Interactions


def time_order(table: Interactions) -> Interactions:
    """Rows sorted by (user, time), stably: equal times keep the file order; without a time
    column the file order is the time order."""
    keys = [table.user] if table.time is None else [table.time, table.user]
    return _take(table, np.lexsort(keys).astype(np.int64), renumber=False)


def dedup(table: Interactions, policy: Dedup) -> Interactions:
    """Drop repeated items per user (rows in time order, as time_order returns them)."""
    if policy == Dedup.none or len(table.user) == 0:
        return table
    user, item = table.user.astype(np.int64), table.item.astype(np.int64)
    if policy == Dedup.consecutive:
        keep = np.ones(len(user), dtype=bool)
        keep[1:] = (user[1:] != user[:-1]) | (item[1:] != item[:-1])
    else:
        pair = user * (int(item.max()) + 1) + item
        if policy == Dedup.first:
            _, first = np.unique(pair, return_index=True)
        else:
            _, from_end = np.unique(pair[::-1], return_index=True)
            first = len(pair) - 1 - from_end
        keep = np.zeros(len(user), dtype=bool)
        keep[first] = True
    return _take(table, np.flatnonzero(keep))


def k_core(table: Interactions, k: int, min_user: int = 0) -> Interactions:
    """Iteratively keep users and items with >= k interactions (the k-core of the bipartite
    graph), then users with >= min_user interactions."""
    keep = np.ones(len(table.user), dtype=bool)
    if k > 0:
        while True:
            users = np.bincount(table.user[keep], minlength=len(table.users))
            items = np.bincount(table.item[keep], minlength=len(table.items))
            now = keep & (users[table.user] >= k) & (items[table.item] >= k)
            if now.sum() == keep.sum():
                break
            keep = now
    if min_user > 0:
        users = np.bincount(table.user[keep], minlength=len(table.users))
        keep &= users[table.user] >= min_user
    return table if keep.all() else _take(table, np.flatnonzero(keep))


def _take(table: Interactions, rows: np.ndarray, renumber: bool = True) -> Interactions:
    user, item = table.user[rows], table.item[rows]
    users, items, meta = table.users, table.items, table.item_meta
    if renumber:
        user_old, user = _renumber(user)
        item_old, item = _renumber(item)
        users = [table.users[u] for u in user_old]
        items = [table.items[i] for i in item_old]
        meta = {f: [values[i] for i in item_old] for f, values in table.item_meta.items()}
    return Interactions(
        users,
        items,
        user,
        item,
        None if table.time is None else table.time[rows],
        None if table.rating is None else table.rating[rows],
        meta,
        table.source,
    )


def _renumber(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(old code of each new code, new codes): the codes left, closed up in their old order
    (so items stay numbered by first appearance in the file)."""
    old = np.unique(codes)
    return old, np.searchsorted(old, codes).astype(np.int32)
