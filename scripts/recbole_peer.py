"""RecBole 1.2.1 SASRec peer run, for scripts/bench_rec.py.

Runs INSIDE the RecBole venv (.venv-recbole, built from ../shared/peers/recbole/requirements.txt), never in
the project's own venv:

    .venv-recbole/bin/python scripts/recbole_peer.py --data-dir ../shared/data/rec --dataset ml-100k \
        --budget-s 900 --max-epochs 3 --seed 2020 --threads 2 --out runs/bench_rec/recbole.json

It follows RecBole's own ``run_recbole`` step by step (same seeding points, same FLOPs probe, so the numbers
equal a plain ``run_recbole`` run) with the settings measured in ../shared/peers/recbole/README.md:
leave-one-out by time, full ranking, CE loss, batch 2048, max length 50, seed 2020.

What it writes:

* ``--out``: {"tool", "version", "curve": [{"epoch", "wall_s", "train_s", "valid_s", "train_loss",
  "valid_ndcg@10", "valid": {...}}], "test": {...}, "load_s", "epochs", "settings", ...}.
  ``wall_s`` is seconds since the start of training (after data loading and model set-up) up to the end of
  that epoch's validation and checkpoint save, so evaluation time is inside the wall-clock budget.
* ``<out>.split.json``: the test split, one entry per user: RecBole user token, target item token and the
  input history (item tokens, oldest first, at most MAX_ITEM_LIST_LENGTH); also the validation targets.

The budget is checked after each epoch (RecBole cannot stop inside an epoch): training stops once wall_s
reaches --budget-s or --max-epochs epochs are done. The test set is then scored with the best-validation
checkpoint, as RecBole does.

Compatibility notes (see the peers README):
* ``recbole.quick_start`` imports ray, and ray 2.6.3 needs ``pkg_resources`` (gone from setuptools >= 81, which
  torch 2.13 pulls in); this script never imports quick_start or ray, so that breakage does not matter.
* NumPy is pinned to 1.26 by the requirements (np.float_ etc. still exist).
* torch >= 2.6 defaults ``torch.load(weights_only=True)``; RecBole's checkpoint holds its Config object, so we
  pass ``weights_only=False`` for RecBole's own checkpoint files only (files under our checkpoint dir).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True, help="folder holding <dataset>/<dataset>.inter (RecBole atomic files)")
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--budget-s", type=float, default=900.0, help="wall-clock training budget, checked after each epoch")
    p.add_argument("--max-epochs", type=int, default=3)
    p.add_argument("--out", required=True, help="JSON result path; the split goes to <out>.split.json")
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work-dir", default=None, help="RecBole log/checkpoint folder (default: <out>.work)")
    p.add_argument(
        "--limit-train-batches",
        type=int,
        default=None,
        help="debugging only: train on the first N batches of each epoch (recorded in the output)",
    )
    return p.parse_args(argv)


def recbole_settings(args, work_dir: Path) -> dict:
    """The RecBole config_dict. Everything not named here is RecBole's default (overall.yaml, the ml-100k
    dataset yaml and SASRec.yaml), which is recorded in full in the output (settings.effective)."""
    return {
        "data_path": str(Path(args.data_dir).resolve()),
        "checkpoint_dir": str(work_dir / "saved"),
        "seed": args.seed,
        "reproducibility": True,
        "use_gpu": False,
        "show_progress": False,
        "worker": 0,
        # data: RecBole's ml-100k defaults, no filtering, no rating threshold
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)",
        "val_interval": None,
        "threshold": None,
        "MAX_ITEM_LIST_LENGTH": 50,
        # split/eval: leave-one-out by time, full ranking
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["NDCG", "Hit", "MRR", "Recall"],
        "topk": [1, 5, 10, 20],
        "valid_metric": "NDCG@10",
        "metric_decimal_place": 6,  # default 4; only the rounding of reported numbers
        "eval_step": 1,
        # training
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "train_batch_size": 2048,
        "epochs": args.max_epochs,
        "stopping_step": 10,
    }


def _md5(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.md5(path.read_bytes()).hexdigest()
    except OSError:
        return None


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("MKL_NUM_THREADS", str(args.threads))
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work_dir = Path(args.work_dir).resolve() if args.work_dir else out.with_name(out.name + ".work")
    work_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(work_dir)  # RecBole writes ./log and ./log_tensorboard relative to the cwd

    t_import = time.perf_counter()
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)

    # torch >= 2.6: weights_only=True by default; RecBole's checkpoints pickle its Config. Allow full unpickling
    # for files RecBole wrote under our own checkpoint dir, and nothing else.
    ckpt_root = str(work_dir / "saved")
    _orig_load = torch.load

    def _load(f, *a, **kw):
        if isinstance(f, (str, os.PathLike)) and os.path.abspath(str(f)).startswith(ckpt_root + os.sep):
            kw.setdefault("weights_only", False)
        return _orig_load(f, *a, **kw)

    torch.load = _load

    from logging import getLogger

    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.data.transform import construct_transform
    from recbole.trainer import Trainer
    from recbole.utils import get_flops, get_model, get_trainer, init_logger, init_seed

    assert "ray" not in sys.modules, "ray got imported (it needs pkg_resources); avoid recbole.quick_start"
    import_s = time.perf_counter() - t_import

    class BudgetReached(Exception):
        pass

    # ---- configuration, as run_recbole does it
    t0 = time.perf_counter()
    config = Config(model="SASRec", dataset=args.dataset, config_dict=recbole_settings(args, work_dir))
    # RecBole 1.2.1 ignores data_path for the dataset named "ml-100k" and reads its bundled copy
    # (recbole/dataset_example/ml-100k); point it back at --data-dir so the peer reads the same files as we do.
    bundled_path = config["data_path"]
    config["data_path"] = str(Path(args.data_dir).resolve() / args.dataset)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)
    config_s = time.perf_counter() - t0

    # ---- data loading + split + dataloaders ("load_s")
    t0 = time.perf_counter()
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    load_s = time.perf_counter() - t0

    # ---- model + trainer set-up (same seeding and FLOPs probe as run_recbole, so RNG streams match)
    t0 = time.perf_counter()
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    logger.info(model)
    transform = construct_transform(config)
    flops = get_flops(model, dataset, config["device"], logger, transform)
    trainer_cls = get_trainer(config["MODEL_TYPE"], config["model"])
    assert trainer_cls is Trainer, trainer_cls

    curve: list[dict] = []
    state = {
        "t_start": None,
        "epoch_start": None,
        "train_s": None,
        "train_loss": None,
        "valid_s": None,
        "valid_result": None,
    }

    class _FirstBatches:
        """Debug wrapper: the first n batches of a RecBole dataloader."""

        def __init__(self, inner, n):
            self._inner, self._n = inner, n

        def __iter__(self):
            for i, b in enumerate(self._inner):
                if i >= self._n:
                    break
                yield b

        def __len__(self):
            return min(self._n, len(self._inner))

        def __getattr__(self, name):
            return getattr(self._inner, name)

    class TimedTrainer(Trainer):
        """RecBole's Trainer with per-epoch wall-clock records and a wall budget checked after each epoch."""

        def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
            state["epoch_start"] = time.perf_counter()
            if args.limit_train_batches:
                train_data = _FirstBatches(train_data, args.limit_train_batches)
            loss = super()._train_epoch(train_data, epoch_idx, loss_func=loss_func, show_progress=show_progress)
            state["train_s"] = time.perf_counter() - state["epoch_start"]
            state["train_loss"] = float(sum(loss) if isinstance(loss, tuple) else loss)
            return loss

        def _valid_epoch(self, valid_data, show_progress=False):
            t = time.perf_counter()
            score, result = super()._valid_epoch(valid_data, show_progress=show_progress)
            state["valid_s"] = time.perf_counter() - t
            state["valid_result"] = dict(result)
            return score, result

    def on_epoch_end(epoch_idx, valid_score):
        # called by Trainer.fit after validation, early-stopping bookkeeping and the best-checkpoint save
        now = time.perf_counter()
        wall = now - state["t_start"]
        curve.append(
            {
                "epoch": epoch_idx + 1,
                "wall_s": round(wall, 3),
                "epoch_s": round(now - state["epoch_start"], 3),
                "train_s": round(state["train_s"], 3),
                "valid_s": round(state["valid_s"], 3),
                "train_loss": state["train_loss"],
                "valid_ndcg@10": float(valid_score),
                "valid": {k: float(v) for k, v in state["valid_result"].items()},
            }
        )
        print(
            f"[recbole_peer] epoch {epoch_idx + 1}: wall {wall:.1f}s (train {state['train_s']:.1f}s, "
            f"valid {state['valid_s']:.2f}s) loss {state['train_loss']:.4f} valid NDCG@10 {valid_score:.4f}",
            flush=True,
        )
        if wall >= args.budget_s and epoch_idx + 1 < args.max_epochs:
            raise BudgetReached()

    trainer = TimedTrainer(config, model)
    setup_s = time.perf_counter() - t0

    # ---- training
    stop_reason = "max_epochs"
    state["t_start"] = time.perf_counter()
    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=on_epoch_end)
        if len(curve) < args.max_epochs:
            stop_reason = "early_stopping"
    except BudgetReached:
        stop_reason = "budget"
    train_wall_s = time.perf_counter() - state["t_start"]

    # ---- test with the best-validation checkpoint (RecBole's own evaluate, full ranking)
    t0 = time.perf_counter()
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
    test_s = time.perf_counter() - t0
    best = None  # the checkpoint RecBole reloads: early_stopping saves only on a strictly better score
    for r in curve:
        if best is None or r["valid_ndcg@10"] > best["valid_ndcg@10"]:
            best = r
    best_epoch = best["epoch"] if best else None

    # ---- split dump: per user, test target and its input history (tokens), plus valid targets
    def dump_split(data):
        ds = data._dataset
        inter = ds.inter_feat
        uid, iid = ds.uid_field, ds.iid_field
        list_field, len_field = ds.item_id_list_field, ds.item_list_length_field
        users = ds.id2token(uid, inter[uid].numpy())
        targets = ds.id2token(iid, inter[iid].numpy())
        lens = inter[len_field].numpy()
        lists = inter[list_field].numpy()
        rows = []
        for u, t, n, seq in zip(users, targets, lens, lists):
            rows.append({"user": str(u), "target": str(t), "history": [str(x) for x in ds.id2token(iid, seq[:n])]})
        return rows

    test_rows = dump_split(test_data)
    valid_rows = dump_split(valid_data)
    split = {
        "tool": "recbole",
        "dataset": args.dataset,
        "max_history": config["MAX_ITEM_LIST_LENGTH"],
        "note": (
            "test split as RecBole built it: per user the last interaction after a stable sort by "
            "(user, float32(min-max-normalised timestamp)), ties in file order; history = up to 50 "
            "preceding items, oldest first (includes the validation target)"
        ),
        "test": test_rows,
        "valid": [{"user": r["user"], "target": r["target"]} for r in valid_rows],
    }
    split_path = out.with_name(out.name + ".split.json")
    split_path.write_text(json.dumps(split))

    def clean(d):
        return {k: float(v) for k, v in d.items()}

    eff = {}
    for k in [
        "model",
        "dataset",
        "data_path",
        "MAX_ITEM_LIST_LENGTH",
        "eval_args",
        "metrics",
        "topk",
        "valid_metric",
        "loss_type",
        "train_neg_sample_args",
        "train_batch_size",
        "eval_batch_size",
        "learner",
        "learning_rate",
        "weight_decay",
        "epochs",
        "eval_step",
        "stopping_step",
        "seed",
        "reproducibility",
        "n_layers",
        "n_heads",
        "hidden_size",
        "inner_size",
        "hidden_dropout_prob",
        "attn_dropout_prob",
        "hidden_act",
        "layer_norm_eps",
        "initializer_range",
        "load_col",
        "user_inter_num_interval",
        "item_inter_num_interval",
        "val_interval",
        "threshold",
        "rm_dup_inter",
        "filter_inter_by_user_or_item",
        "normalize_all",
        "normalize_field",
        "repeatable",
        "shuffle",
        "metric_decimal_place",
        "device",
    ]:
        v = config[k] if k in config else None  # noqa: SIM401 (RecBole Config has no .get)
        eff[k] = v if isinstance(v, (int, float, str, bool, list, dict, type(None))) else str(v)

    result = {
        "tool": "recbole",
        "version": recbole.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "model": "SASRec",
        "dataset": args.dataset,
        "budget_s": args.budget_s,
        "limit_train_batches": args.limit_train_batches,
        "max_epochs": args.max_epochs,
        "stop_reason": stop_reason,
        "epochs": len(curve),
        "curve": curve,
        "best_epoch": best_epoch,
        "best_valid": best["valid"] if best else None,
        "test": clean(test_result),
        "import_s": round(import_s, 3),
        "config_s": round(config_s, 3),
        "load_s": round(load_s, 3),
        "setup_s": round(setup_s, 3),
        "train_wall_s": round(train_wall_s, 3),
        "test_s": round(test_s, 3),
        "flops": float(flops) if flops is not None else None,
        "n_train_samples": len(train_data._dataset),
        "n_valid": len(valid_data._dataset),
        "n_test": len(test_data._dataset),
        "n_items_incl_padding": int(dataset.item_num),
        "n_users_incl_padding": int(dataset.user_num),
        "split_file": split_path.name,
        "data_path": config["data_path"],
        "inter_md5": _md5(Path(config["data_path"]) / f"{args.dataset}.inter"),
        "recbole_default_data_path": os.path.realpath(bundled_path),
        "settings": {
            "given": recbole_settings(args, work_dir),
            "effective": eff,
            "timing": (
                "wall_s = seconds from the start of Trainer.fit to the end of that epoch's validation "
                "and best-checkpoint save (evaluation time included); load_s = create_dataset + "
                "data_preparation; config, model set-up and the final test are outside wall_s"
            ),
            "history_masking": (
                "none: RecBole's FullSortEvalDataLoader passes history_index=None for "
                "sequential models; only the padding item 0 is set to -inf; every real item, "
                "including ones in the user's history, is ranked"
            ),
            "budget_rule": "checked after each epoch; stop once wall_s >= budget_s or max_epochs reached",
        },
    }
    out.write_text(json.dumps(result, indent=1, default=str))
    print(
        f"[recbole_peer] {len(curve)} epochs ({stop_reason}), train wall {train_wall_s:.1f}s, load {load_s:.1f}s;"
        f" test NDCG@10 {result['test'].get('ndcg@10')} -> {out}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
