"""What differs between runs, as short labels: `encoder.k1=1.2, search.k=100`.

Each run's meta.json records the config its key hashes. The settings of a run and of the
runs it was made from (search <- index <- encode) are flattened to dotted names, and a
run's label lists those whose values differ between the runs being compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from sparsecli.runs.rundir import read_meta

LABEL_WIDTH = 60  # characters of a label before it is cut


def _flatten(prefix: str, value: Any, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    else:
        out[prefix] = value


def chain_settings(runs: dict[str, Path]) -> dict:
    """{command: run dir} -> their recorded settings as dotted names; references to other
    runs are left out (the chain itself is listed), and each `seed` is named by its command."""
    flat: dict = {}
    for command, path in runs.items():
        config = dict(read_meta(path).get("config", {}))
        config = {k: v for k, v in config.items() if not k.endswith("_run")}
        if "seed" in config:
            config[f"{command}.seed"] = config.pop("seed")
        _flatten("", config, flat)
    return flat


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def labels(settings: list[dict]) -> list[Optional[str]]:
    """For each run, the settings that differ between the runs, or None where nothing does."""
    keys = sorted({key for s in settings for key in s})
    differing = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]
    out: list[Optional[str]] = []
    for entry in settings:
        text = ", ".join(f"{k}={_show(entry[k])}" for k in differing if k in entry)
        out.append((text if len(text) <= LABEL_WIDTH else text[: LABEL_WIDTH - 1] + "…") or None)
    return out
