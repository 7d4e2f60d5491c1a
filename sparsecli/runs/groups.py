"""Where configs are found, and the options of each config group.

The package's own `sparsecli/conf` comes first, then `./conf` and the folders listed in
$SPARSECLI_CONF (added to Hydra's search path by hydra_plugins/sparsecli_searchpath), where
lab presets and collections of your own live.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields
from importlib import resources
from pathlib import Path

from sparsecli.commands import Command

CONF_ENV = "SPARSECLI_CONF"


def conf_dirs() -> list[Path]:
    """Config folders in search order: the package's, then ./conf and $SPARSECLI_CONF entries."""
    return [Path(str(resources.files("sparsecli") / "conf")), *extra_conf_dirs()]


def extra_conf_dirs() -> list[Path]:
    """User config folders added to Hydra's search path by our SearchPathPlugin."""
    candidates = [Path("conf")]
    candidates += [Path(p) for p in os.environ.get(CONF_ENV, "").split(os.pathsep) if p]
    return [p.resolve() for p in candidates if p.is_dir()]


def available_options(group: str) -> set[str] | None:
    """Options of a config group across the search path; None if no such group exists."""
    found = None
    for base in conf_dirs():
        folder = base / group
        if folder.is_dir():
            found = found or set()
            found |= {p.stem for p in folder.glob("*.yaml")}
    return found


_SCHEMA_LINE = re.compile(r"^\s*-\s*/schema/([\w-]+)/([\w-]+)@_here_", re.M)


def options_for(command: Command, group: str) -> set[str] | None:
    """The options of `group` that fit `command`: those whose schema (the `/schema/<group>/<name>`
    their defaults extend) is the command's type for that field. The `data` group holds IR
    collections and interaction datasets alike; each command lists only its own."""
    options = available_options(group)
    if group == PRESETS and options is not None:
        return {name for name in options if _preset_fits(command, name)}
    wanted = _unwrap_optional(_field_types(command).get(group))
    if options is None or not isinstance(wanted, type):
        return options
    from sparsecli.schema import OPTIONS

    fitting = set()
    for name in options:
        schema = _option_schema(group, name)
        cls = OPTIONS.get(group, {}).get(schema) if schema else None
        if cls is None or issubclass(cls, wanted):
            fitting.add(name)
    return fitting


def option_file(group: str, name: str) -> Path | None:
    """The file Hydra composes for `group=name`: the first along the search path."""
    for base in conf_dirs():
        path = base / group / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def _option_schema(group: str, name: str) -> str | None:
    path = option_file(group, name)
    if path is None:
        return None
    found = _SCHEMA_LINE.search(path.read_text(encoding="utf-8"))
    return found.group(2) if found and found.group(1) == group else None


PRESETS = "experiment"


def _preset_fits(command: Command, name: str) -> bool:
    """A preset (`+experiment=<name>`, a `_global_` package) fits a command when the groups it
    overrides, the options it chooses in them and the top-level keys it sets are all the
    command's: a retrieval preset composed into train-rec would fail inside Hydra with a page
    of text. A preset that cannot be read fits, so that Hydra says what is wrong with it."""
    import yaml

    path = option_file(PRESETS, name)
    try:
        preset = yaml.safe_load(path.read_text(encoding="utf-8")) if path is not None else None
    except yaml.YAMLError:  # Hydra reports it when the preset is composed
        return True
    if not isinstance(preset, dict):
        return path is not None
    entries = [e for e in preset.get("defaults") or [] if isinstance(e, dict)]
    chosen = {
        key.split()[-1].lstrip("/"): entry[key] for entry in entries for key in entry if key.startswith("override")
    }
    names = (set(chosen) | set(preset)) - {"defaults", "hydra"}
    if not names <= groups_of(command) | {f.name for f in fields(command.schema)}:
        return False
    # each option it chooses must be one for this command (data holds IR and rec datasets)
    return all(option in (options_for(command, group) or {option}) for group, option in chosen.items())


def _field_types(command: Command) -> dict:
    import typing

    try:
        return typing.get_type_hints(command.schema)
    except Exception:  # noqa: BLE001  (an unresolvable hint: no filtering)
        return {}


def _unwrap_optional(hint):
    """X for Optional[X] (prune's `data` is optional: calibration documents, IR collections only)."""
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint


def groups_of(command: Command) -> set[str]:
    """The config groups a command's overrides may choose from."""
    return {g for g in (*command.groups, *(f.name for f in fields(command.schema))) if available_options(g)}
