"""Full-ranking evaluation: every user's target ranked against every item, in batches.

Per user: the pessimistic rank of the target (metrics.py), and the top `top` items in the
order the run file records: score descending; ties by item number, except that the target
comes last among the items tied with it (the list agrees with the pessimistic rank, so
ir-measures on the written run gives the same numbers). With `mask_history` the user's
history is removed from ranking first, the target too when it repeats an earlier item (a
guaranteed miss, counted; never exempted, which would use the target to decide).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np
import torch

from sparsecli.recommend import metrics
from sparsecli.recommend.data.types import Sequences, Targets
from sparsecli.recommend.config import RankingConfig
from sparsecli.recommend.models.base import Scorer


class Ranked(NamedTuple):
    """ranks int64 [m] (0 = miss: target masked); items int32 [m, top] (-1 past the end);
    scores float32 [m, top]; masked_targets: how many targets the history mask removed."""

    ranks: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    masked_targets: int


def top_lists(scores: torch.Tensor, targets: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(items int64 [B, top], scores [B, top]) in run order; masked items are -inf and
    never listed (item -1). Rows with ties at the cut or around the target are ordered by
    a full sort on (score desc, is-target, item number)."""
    n = scores.shape[1]
    k = min(top, n)
    values, items = torch.topk(scores, k, dim=1)
    # topk leaves ties in no particular order: sort each list by (score desc, item asc)
    by_item = torch.argsort(items, dim=1)
    items, values = items.gather(1, by_item), values.gather(1, by_item)
    by_score = torch.argsort(-values, dim=1, stable=True)
    items, values = items.gather(1, by_score), values.gather(1, by_score)
    rows = torch.arange(len(targets), device=scores.device)
    target_scores = scores[rows, targets]
    cut = values[:, -1:]
    special = ((scores >= cut).sum(1) > k) | (
        (target_scores >= cut[:, 0]) & ((scores == target_scores.unsqueeze(1)).sum(1) > 1)
    )
    for row in torch.nonzero(special).flatten().tolist():
        row_scores = scores[row].cpu().numpy()
        is_target = np.zeros(n, dtype=np.int8)
        is_target[int(targets[row])] = 1
        order = np.lexsort([np.arange(n), is_target, -row_scores.astype(np.float64)])[:k]
        items[row] = torch.from_numpy(order).to(items.device)
        values[row] = scores[row, items[row]]
    items = torch.where(torch.isinf(values) & (values < 0), torch.full_like(items, -1), items)
    if k < top:
        pad = top - k
        items = torch.cat([items, torch.full((len(items), pad), -1, dtype=items.dtype, device=items.device)], 1)
        values = torch.cat([values, torch.full((len(items), pad), float("-inf"), device=values.device)], 1)
    return items, values


def history_hits(inputs: Sequences, targets: np.ndarray) -> np.ndarray:
    """bool [m]: the target occurs in the row's own input sequence."""
    rows, items = inputs.coo(np.arange(len(targets)))
    hit = np.zeros(len(targets), dtype=bool)
    hit[rows[items == targets[rows]]] = True
    return hit


@torch.no_grad()
def full_ranking(
    scorer: Scorer,
    targets: Targets,
    n_items: int,
    config: RankingConfig,
    device: torch.device,
    progress: Optional[Callable[[int], None]] = None,
    kernel: Optional[bool] = None,
) -> Ranked:
    """Rank every target of `targets` against all n_items items.

    Users go in batches of `config.batch_size`, grouped by history length so a batch's
    sequences carry little padding. On a CPU (or kernel=True) each of torch's threads takes
    a batch at a time and runs it through: the user vectors (torch, one thread), the product
    with the item matrix (numpy's BLAS, one thread) and one kernels/fullrank.py pass that masks,
    counts and lists, while the batch's scores are still in cache. Elsewhere torch does it all
    on the device. Results never depend on the thread count."""
    m = len(targets.targets)
    ranks = np.zeros(m, dtype=np.int64)
    items = np.full((m, config.top), -1, dtype=np.int32)
    scores_out = np.zeros((m, config.top), dtype=np.float32)
    batches = length_batches(targets, config.batch_size)
    if kernel if kernel is not None else device.type == "cpu":
        _rank_on_cpu(scorer, targets, n_items, config, batches, progress, (ranks, items, scores_out))
    else:
        _rank_on_device(scorer, targets, config, device, batches, progress, (ranks, items, scores_out))
    masked = int(history_hits(targets.inputs, targets.targets).sum()) if config.mask_history else 0
    return Ranked(ranks, items, scores_out, masked)


def length_batches(targets: Targets, batch_size: int) -> list[np.ndarray]:
    """The users of `targets` in batches grouped by history length (int64 row numbers, sorted
    within a batch). A user's vector can differ in the last float bit with the batch's padded
    width, so whatever must reproduce the evaluator's scores batches this way."""
    by_length = np.argsort(np.diff(targets.inputs.indptr), kind="stable")
    return [np.sort(by_length[s : s + batch_size]) for s in range(0, len(targets.targets), batch_size)]


def cpu_scores(scorer: Scorer) -> Callable[[Sequences, np.ndarray], np.ndarray]:
    """The CPU evaluator's scores of a batch: float32 [len(rows), n_items] as a new array, user
    vectors from torch and their product with the item matrix from numpy's BLAS."""
    items_t = None
    if scorer.weights is not None:
        items_t = np.ascontiguousarray(scorer.weights.detach().float().cpu().numpy().T)
    bias = None if scorer.bias is None else scorer.bias.detach().float().cpu().numpy()
    columns = None if scorer.columns is None else scorer.columns.cpu().numpy()

    def scores(inputs: Sequences, rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():  # grad mode is per thread
            users = scorer.users(inputs, rows).detach().float().cpu()
        if items_t is None:
            return np.ascontiguousarray(users.numpy())
        block = users.numpy() @ items_t
        if columns is not None:
            block = block[:, columns]
        if bias is not None:
            block += bias
        return block

    return scores


def _rank_on_cpu(scorer: Scorer, targets: Targets, n_items: int, config: RankingConfig, batches, progress, out) -> None:
    # Threads of our own rather than each library's: torch's, BLAS's and numba's pools spin
    # while waiting and slow each other down when they alternate on 2 cores (measured: the
    # p5-beauty test set took 3.3 s that way and 1.6 s this way).
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from sparsecli.kernels.fullrank import rank_block

    inputs = targets.inputs
    if config.mask_history:
        indptr, history = inputs.indptr.astype(np.int64), inputs.items.astype(np.int64)
    else:
        indptr, history = np.zeros(len(inputs.indptr), dtype=np.int64), np.zeros(0, dtype=np.int64)
    target = targets.targets.astype(np.int64)
    scores = cpu_scores(scorer)

    def run(rows: np.ndarray) -> int:
        block = scores(inputs, rows)
        if block.shape[1] != n_items:  # the kernel indexes rows by item number unchecked
            raise ValueError(f"the model scored {block.shape[1]} items, the data has {n_items}")
        rank_block(block, rows.astype(np.int64), indptr, history, target, config.top, *out)
        return len(rows)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
            for done in pool.map(run, batches):
                if progress is not None:
                    progress(done)
    finally:
        torch.set_num_threads(threads)


def _rank_on_device(scorer: Scorer, targets: Targets, config: RankingConfig, device, batches, progress, out) -> None:
    ranks, items, scores_out = out
    for rows in batches:
        scores = scorer.scores(targets.inputs, rows).to(device).float()
        if config.mask_history:
            scores = masked_history(scores, targets.inputs, rows)
        on_device = torch.from_numpy(targets.targets[rows].astype(np.int64)).to(device)
        scores = torch.nan_to_num(scores, nan=float("-inf"))
        ranks[rows] = metrics.pessimistic_ranks(scores, on_device, torch.isneginf(scores)).cpu().numpy()
        listed, values = top_lists(scores, on_device, config.top)
        items[rows] = listed.cpu().numpy()
        scores_out[rows] = values.cpu().numpy()
        if progress is not None:
            progress(len(rows))


def masked_history(scores: torch.Tensor, inputs: Sequences, rows: np.ndarray) -> torch.Tensor:
    """scores, in place, with each row's history set to -inf (the target too, where it repeats)."""
    at, cols = inputs.coo(rows)
    scores[torch.from_numpy(at).to(scores.device), torch.from_numpy(cols).to(scores.device)] = float("-inf")
    return scores


def report(ranked: Ranked, targets: Targets, train_counts: np.ndarray, config: RankingConfig) -> dict:
    """Metrics (means over all evaluated users), coverage and popularity bias of the top
    lists, and the same metrics on slices: targets unseen in training (no model that learns
    one vector per item ID can rank them), cold targets (at most rank.cold_items training
    interactions), short and long histories."""
    values = metrics.per_user(ranked.ranks, config.ks)
    out: dict = {"users": int(len(ranked.ranks)), **metrics.means(values)}
    n_items = len(train_counts)
    for k in config.ks:
        listed = ranked.items[:, :k]
        listed = listed[listed >= 0]
        out[f"coverage@{k}"] = float(len(np.unique(listed)) / n_items) if n_items else 0.0
        # ARP@k (Abdollahpouri et al. 2019): mean training count of the recommended items
        out[f"ARP@{k}"] = float(train_counts[listed].mean()) if len(listed) else 0.0
    if ranked.masked_targets:
        out["masked_targets"] = ranked.masked_targets
    lengths = np.diff(targets.inputs.indptr)
    slices = {
        "unseen_target(0)": train_counts[targets.targets] == 0,
        f"cold_target(<={config.cold_items})": train_counts[targets.targets] <= config.cold_items,
        f"short_history(<={config.short_history})": lengths <= config.short_history,
        f"long_history(>={config.long_history})": lengths >= config.long_history,
    }
    out["slices"] = {
        name: {"users": int(chosen.sum()), **metrics.means({k: v[chosen] for k, v in values.items()})}
        for name, chosen in slices.items()
    }
    return out


@torch.no_grad()
def sampled(scorer: Scorer, targets: Targets, n_items: int, config: RankingConfig, seed: int, device) -> dict:
    """Metrics over the target and `sampled_negatives` uniform negatives per user, seeded;
    keys are prefixed `sampled(1+m)/` so they never pass for full-ranking figures."""
    m = config.sampled_negatives
    negatives = metrics.sample_negatives(targets.targets, n_items, m, seed)
    ranks = np.zeros(len(targets.targets), dtype=np.int64)
    for start in range(0, len(ranks), config.batch_size):
        rows = np.arange(start, min(len(ranks), start + config.batch_size))
        scores = scorer.scores(targets.inputs, rows).to(device).float()
        target = torch.from_numpy(targets.targets[rows].astype(np.int64)).to(device)
        ranks[rows] = metrics.sampled_ranks(scores, target, torch.from_numpy(negatives[rows]).to(device)).cpu().numpy()
    return {f"sampled(1+{m})/{k}": v for k, v in metrics.means(metrics.per_user(ranks, config.ks)).items()}
