"""Full-ranking evaluation speed: every test user of p5-beauty against all 12,101 items.

    python scripts/bench_rank.py --data-root ../shared/data                     # random SASRec weights
    python scripts/bench_rank.py --data-root ../shared/data --run runs/train-rec/<key>   # a trained model

Side by side in one process, on the same scores:
  ours   sparsecli.recommend.ranking.full_ranking: history masked, pessimistic ranks by
         counting and top-100 lists in one numba pass per user (batches of --batch-size
         users, one batch per thread at a time);
  peer   the common evaluator: a full argsort of every user's scores (torch.argsort, as many
         toolkits' full-sort evaluation does), the target's position read from it.
Both must give the same ranks where the scores have no ties (the script fails otherwise).
Reported: seconds for all users (best of --repeats, after a warm-up), users/s, and the ratio.
Scoring (the model's forward pass) is timed separately from ranking, and `end_to_end_s` times
what `sparse train-rec` runs: full_ranking over model.scorer(), where each batch's user vectors,
their product with the item matrix and the ranking pass run back to back on one thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--run", help="a train-rec run directory on p5-beauty (default: random SASRec weights)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, help="users per batch (default: rank.batch_size's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sparsecli.recommend import metrics, ranking
    from sparsecli.recommend.data import load
    from sparsecli.recommend.data.config import RecDataConfig, RecFormat
    from sparsecli.recommend.models.base import Scorer
    from sparsecli.recommend.models.config import SASRecConfig
    from sparsecli.recommend.train import load_weights

    data = load(RecDataConfig(name="p5-beauty", format=RecFormat.p5, local_path="rec/p5-beauty"), args.data_root)
    n_items, targets = len(data.items), data.split.test
    torch.manual_seed(0)
    model = SASRecConfig().build(n_items).eval()
    if args.run:
        load_weights(Path(args.run) / "model.safetensors", model)
    config = ranking.RankingConfig() if args.batch_size is None else ranking.RankingConfig(batch_size=args.batch_size)
    device = torch.device("cpu")

    by_length = np.argsort(np.diff(targets.inputs.indptr), kind="stable")  # as full_ranking batches
    with torch.no_grad():
        start = time.perf_counter()
        scores = torch.empty(len(targets.targets), n_items)
        for s in range(0, len(by_length), config.batch_size):
            rows = np.sort(by_length[s : s + config.batch_size])
            scores[rows] = model.score(targets.inputs, rows)
        score_s = time.perf_counter() - start

    def ours():
        return ranking.full_ranking(Scorer(lambda seqs, rows: scores[rows]), targets, n_items, config, device).ranks

    def peer():
        ranks = np.zeros(len(targets.targets), dtype=np.int64)
        for s in range(0, len(ranks), config.batch_size):
            rows = np.arange(s, min(len(ranks), s + config.batch_size))
            block = ranking.masked_history(scores[rows], targets.inputs, rows)
            order = torch.argsort(block, dim=1, descending=True)
            target = torch.from_numpy(targets.targets[rows].astype(np.int64))
            ranks[rows] = (order == target.unsqueeze(1)).int().argmax(dim=1).numpy() + 1
        return ranks

    def end_to_end():
        with torch.no_grad():
            return ranking.full_ranking(model.scorer(), targets, n_items, config, device).ranks

    end_to_end()  # warm-up
    end_to_end_s = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        end_to_end()
        end_to_end_s = min(end_to_end_s, time.perf_counter() - start)

    timings = {}
    results = {}
    for name, fn in (("ours", ours), ("peer", peer)):
        results[name] = fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        timings[name] = best
    masked = ranking.history_hits(targets.inputs, targets.targets)
    target_scores = scores[torch.arange(len(targets.targets)), torch.from_numpy(targets.targets.astype(np.int64))]
    tied = ((scores == target_scores.unsqueeze(1)).sum(dim=1) > 1).numpy()
    differ = (results["ours"] != np.where(masked, 0, results["peer"])) & ~tied
    if differ.any():
        raise SystemExit(f"ranks differ for {int(differ.sum())} users whose target ties no other item")
    report = {
        "users": int(len(targets.targets)),
        "items": n_items,
        "threads": args.threads,
        "score_s": round(score_s, 3),
        "rank_s": {k: round(v, 3) for k, v in timings.items()},
        "end_to_end_s": round(end_to_end_s, 3),
        "users_per_s": {k: round(len(targets.targets) / v) for k, v in timings.items()},
        "peer_over_ours": round(timings["peer"] / timings["ours"], 2),
        "users_with_tied_target": int(tied.sum()),  # pessimistic rank vs the argsort's arbitrary one
        "NDCG@10": metrics.means(metrics.per_user(results["ours"], [10]))["NDCG@10"],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
