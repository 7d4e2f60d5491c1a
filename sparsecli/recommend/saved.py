"""A trained recommender as a folder: what `sparse train-rec` writes and `sparse prune` and
`train-rec init=` read.

    model.json          {"model": <the model config>, "n_items": N, "items": "items.tsv"}
    model.safetensors   the weights (train.save_weights)
    items.tsv           item number <TAB> original item id
    masks.safetensors   (a pruned model) one bitmask per pruned layer (sparsity/masks.py)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Optional

from sparsecli.errors import InputError

MODEL_JSON, WEIGHTS, ITEMS, MASKS = "model.json", "model.safetensors", "items.tsv", "masks.safetensors"


class Saved(NamedTuple):
    model: object  # RecModel, in eval mode
    config: object  # its ModelConfig
    info: dict  # model.json
    masks: dict  # layer name -> bool keep [out, in]; empty unless pruned


def is_recommender(folder: str) -> bool:
    """Whether `folder` holds a saved recommender (its model.json names n_items)."""
    path = Path(folder) / MODEL_JSON
    if not path.is_file():
        return False
    try:
        return "n_items" in json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:  # ours, damaged: say so rather than try it as a transformers model
        raise InputError(
            f"not valid JSON ({err.msg})",
            where=f"{path}:{err.lineno}",
            fix="restore it: rerun the command that wrote it, with runtime.force=true",
        ) from None
    except (ValueError, OSError):
        return False


def model_config(info: dict, path: Path, where: str):
    """The ModelConfig a model.json (at `path`) records. Raises InputError naming the file."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from sparsecli.errors import InputError
    from sparsecli.schema import OPTIONS

    recorded = dict(info.get("model") or {})
    cls = OPTIONS["model"].get(recorded.get("name"))
    if cls is None:
        raise InputError(
            f"{path}: model {recorded.get('name')!r} is not a model option", where=where, fix="point at a train-rec run"
        )
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), recorded))
    except (OmegaConfBaseException, ValueError) as err:
        raise InputError(
            f"{path}: unreadable model settings ({err})", where=where, fix="point at a train-rec run"
        ) from None


def _read_info(root: Path, field: str) -> tuple[dict, int, object]:
    """(model.json, its n_items, its ModelConfig) of the model saved in `root`. Raises
    InputError for a missing or unreadable model.json."""
    path = root / MODEL_JSON
    if not path.is_file():
        raise InputError(f"{path} is missing", where=field, fix="point at a train-rec or prune run")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        n_items = int(info["n_items"])
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path} is unreadable ({err})", where=field, fix="rerun that run") from None
    return info, n_items, model_config(info, path, field)


def load(folder: str, field: str) -> Saved:
    """The model saved in `folder`, with its masks if it was pruned. `field` names the config
    field that gave the folder, for errors. Raises InputError (missing or unreadable files)."""
    import torch
    from safetensors import SafetensorError

    from sparsecli.errors import InputError
    from sparsecli.recommend.train import load_weights
    from sparsecli.sparsity import layers, masks

    root = Path(folder)
    for name in (MODEL_JSON, WEIGHTS, ITEMS):
        if not (root / name).is_file():
            raise InputError(f"{root / name} is missing", where=field, fix="point at a train-rec or prune run")
    info, n_items, config = _read_info(root, field)
    features = None
    if getattr(config, "metadata", False):  # tables of the recorded shapes, filled by load_weights
        from sparsecli.recommend.models.features import placeholder

        features = placeholder(info.get("features") or {}, n_items)
    with torch.random.fork_rng():  # building draws initial weights, which load_weights replaces
        model = config.build(n_items, features)
    try:
        load_weights(root / WEIGHTS, model)
    except (RuntimeError, SafetensorError) as err:
        first = str(err).strip().splitlines()[0]
        raise InputError(f"{root / WEIGHTS} does not fit model.json ({first})", where=field, fix="rerun it") from None
    kept = {}
    if (root / MASKS).is_file():
        try:
            kept = masks.load(root / MASKS)
            for name, keep in kept.items():
                shape = tuple(layers.find(model, name).weight.shape)
                if shape != tuple(keep.shape):
                    raise ValueError(f"layer {name} is {shape}")
        except (ValueError, KeyError, AttributeError, SafetensorError) as err:
            raise InputError(f"{root / MASKS} does not fit the model ({err})", where=field, fix="rerun it") from None
    return Saved(model.eval(), config, info, kept)


def write_items(path: Path, ids) -> None:
    """items.tsv at `path`: one line per item number, `number<TAB>original id`."""
    path.write_text("".join(f"{i}\t{t}\n" for i, t in enumerate(ids)), encoding="utf-8")


def items(folder: str) -> list[str]:
    """The original item ids, by item number (items.tsv)."""
    lines = (Path(folder) / ITEMS).read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[1] if "\t" in line else "" for line in lines]


def check_settings(folder: str, config, field: str) -> None:
    """Refuse the model saved in `folder` when its settings differ from `config` (ConfigError),
    from its model.json alone, so before any data is read. Raises InputError for a missing or
    unreadable model.json."""
    _same_settings(_read_info(Path(folder), field)[2], config, field)


def _same_settings(saved_config, config, field: str) -> None:
    from dataclasses import fields

    from sparsecli.errors import ConfigError

    # every field, late ones at their default too (model.json leaves those out); another
    # model altogether is named alone
    ours, theirs = ({f.name: getattr(c, f.name) for f in fields(c)} for c in (config, saved_config))
    if type(config) is not type(saved_config):
        ours, theirs = {"name": ours.get("name")}, {"name": theirs.get("name")}
    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if differ:
        raise ConfigError(
            "the saved model has other settings: "
            + ", ".join(f"model.{k}={theirs.get(k)} there, {ours.get(k)} here" for k in differ),
            where=field,
            fix="pass the saved model's settings (model=... and its fields)",
        )


def check_fits(saved: Saved, folder: str, config, catalogue: list, field: str) -> None:
    """Refuse a saved model (from `folder`) whose settings or item catalogue (ids by item
    number) differ from this run's (ConfigError)."""
    from sparsecli.errors import ConfigError

    _same_settings(saved.config, config, field)
    theirs_items = items(folder)
    if theirs_items != [str(i) for i in catalogue]:
        differ = next((n for n, (a, b) in enumerate(zip(theirs_items, catalogue)) if a != str(b)), None)
        raise ConfigError(
            f"the saved model ranks another catalogue: {len(theirs_items)} items against {len(catalogue)} here"
            + (
                f", item {differ} is {theirs_items[differ]!r} there and {catalogue[differ]!r} here"
                if differ is not None
                else ""
            ),
            where=field,
            fix="pass the data= (and filters) it was trained on",
        )


def write_info(run, config, n_items: int, extra: Optional[dict] = None) -> None:
    """model.json into `run` (a RunDir)."""
    from sparsecli.schema import as_dict

    run.write_json(MODEL_JSON, {"model": as_dict(config), "n_items": n_items, "items": ITEMS, **(extra or {})})
