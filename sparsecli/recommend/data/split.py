"""Splits: time-ordered Interactions to training sequences and held-out targets.

Policies (data.split.policy):
- `loo`, temporal leave-one-out as in SASRec's `data_partition`: a user with n >= 3
  interactions trains on the first n-2, validates on item n-1 (input: the first n-2) and
  tests on item n (input: the first n-1, the validation item included). A user with fewer
  trains on everything and is not evaluated (counted in `dropped`). This is the policy the
  shared case `split_loo_short_users_cold_items` calls A; RecBole's variant (B) gives a
  3-interaction user a test target and no validation target. We do not mix the two.
- `temporal`: two global time cuts. Interactions before the first train; a user's first
  interaction in [cut1, cut2) is its validation target, its first at or after cut2 its test
  target, each predicted from everything the user did before it.
- `session`: sessions are the sequences. The latest sessions (by their last interaction)
  are held out whole; each held-out session predicts its last item from the others.

Only `Split.train` may feed training or any statistic (popularity, co-occurrence, EASE's
Gram matrix): valid and test interactions never reach it (shared case `split_test_leakage`).
"""

from __future__ import annotations

import numpy as np

from sparsecli.errors import ConfigError
from sparsecli.recommend.data.config import SplitConfig, SplitPolicy
from sparsecli.recommend.data.types import Interactions, Sequences, Split, Targets

MIN_LOO = 3  # train, valid, test: one interaction each


def sequences(table: Interactions) -> Sequences:
    """Each user's rows as CSR; `table` must be in (user, time) order (filters.time_order)."""
    counts = np.bincount(table.user, minlength=len(table.users))
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    order = np.argsort(table.user, kind="stable")
    return Sequences(indptr, table.item[order], None if table.time is None else table.time[order])


def split(table: Interactions, config: SplitConfig) -> Split:
    seqs = sequences(table)
    if config.policy == SplitPolicy.loo:
        return leave_one_out(seqs)
    if table.time is None and config.policy == SplitPolicy.temporal:
        raise ConfigError(
            f"split.policy=temporal needs a time column; {table.source} has none",
            where="data.split.policy",
            fix="use data.split.policy=loo (file order is time order), or name the column: data.columns.time=[...]",
        )
    if config.policy == SplitPolicy.temporal:
        return temporal(seqs, config.valid_fraction, config.test_fraction)
    return by_session(seqs, config.valid_fraction, config.test_fraction)


def _rows(starts: np.ndarray, stops: np.ndarray, items: np.ndarray) -> Sequences:
    """Sequences whose row r is items[starts[r]:stops[r]]."""
    lengths = (stops - starts).astype(np.int64)
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    index = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    return Sequences(indptr, items[index], None)


def _targets(seqs: Sequences, users: np.ndarray, positions: np.ndarray, starts: np.ndarray | None = None) -> Targets:
    """Targets at absolute positions of seqs.items; inputs from each user's start (default:
    the row's start) up to the target."""
    begin = seqs.indptr[users] if starts is None else starts
    return Targets(users.astype(np.int32), seqs.items[positions].astype(np.int32), _rows(begin, positions, seqs.items))


def leave_one_out(seqs: Sequences) -> Split:
    lengths = seqs.lengths()
    evaluated = np.flatnonzero(lengths >= MIN_LOO)
    ends = seqs.indptr[1:].copy()
    train_stop = ends.copy()
    train_stop[evaluated] -= 2
    train = _rows(seqs.indptr[:-1], train_stop, seqs.items)
    valid = _targets(seqs, evaluated, ends[evaluated] - 2)
    test = _targets(seqs, evaluated, ends[evaluated] - 1)
    short = int((lengths < MIN_LOO).sum())
    return Split(train, valid, test, "loo", {"fewer than 3 interactions (train only)": short} if short else {})


def temporal(seqs: Sequences, valid_fraction: float, test_fraction: float) -> Split:
    times = np.sort(seqs.time)
    n = len(times)
    cut_valid = times[min(n - 1, int(n * (1 - valid_fraction - test_fraction)))]
    cut_test = times[min(n - 1, int(n * (1 - test_fraction)))]
    user_of = np.repeat(np.arange(len(seqs.indptr) - 1), seqs.lengths())
    train_stop = seqs.indptr[:-1] + np.bincount(user_of[seqs.time < cut_valid], minlength=len(seqs.indptr) - 1)
    train = _rows(seqs.indptr[:-1], train_stop, seqs.items)
    dropped: dict = {}
    valid = _first_in(seqs, user_of, (seqs.time >= cut_valid) & (seqs.time < cut_test), dropped, "valid")
    test = _first_in(seqs, user_of, seqs.time >= cut_test, dropped, "test")
    return Split(train, valid, test, "temporal", dropped)


def _first_in(seqs: Sequences, user_of: np.ndarray, window: np.ndarray, dropped: dict, name: str) -> Targets:
    """Each user's first interaction inside `window`, if the user has one before it."""
    positions = np.flatnonzero(window)
    users, first = np.unique(user_of[positions], return_index=True)
    positions = positions[first]
    has_history = positions > seqs.indptr[users]
    if (~has_history).any():
        dropped[f"{name}: no interaction before the cut (cold user)"] = int((~has_history).sum())
    return _targets(seqs, users[has_history], positions[has_history])


def by_session(seqs: Sequences, valid_fraction: float, test_fraction: float) -> Split:
    n = len(seqs.indptr) - 1
    lengths = seqs.lengths()
    ends = seqs.indptr[1:]
    last_time = seqs.time[ends - 1] if seqs.time is not None else np.arange(n, dtype=np.float64)
    order = np.lexsort([np.arange(n), last_time])  # by last interaction; ties by session number
    n_test = int(round(n * test_fraction))
    n_valid = int(round(n * valid_fraction))
    test_sessions = np.sort(order[n - n_test :])
    valid_sessions = np.sort(order[n - n_test - n_valid : n - n_test])
    train_stop = ends.copy()
    held = np.concatenate([valid_sessions, test_sessions])
    train_stop[held] = seqs.indptr[:-1][held]  # held-out sessions give training nothing
    train = _rows(seqs.indptr[:-1], train_stop, seqs.items)
    dropped: dict = {}
    parts = []
    for name, sessions in (("valid", valid_sessions), ("test", test_sessions)):
        long_enough = sessions[lengths[sessions] >= 2]
        if len(long_enough) < len(sessions):
            dropped[f"{name}: sessions of one item"] = int(len(sessions) - len(long_enough))
        parts.append(_targets(seqs, long_enough, ends[long_enough] - 1))
    return Split(train, parts[0], parts[1], "session", dropped)
