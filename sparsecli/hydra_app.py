"""The bridge from `sparse <command> <overrides>` to Hydra's own entry point.

Typer only routes: each command's arguments go, untouched, to a `@hydra.main` task, so
config groups, overrides, `-m` sweeps, launcher plugins, `--cfg job` and `--help` behave
exactly as in any Hydra app. This module is the only place that touches `sys.argv`.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from sparsecli import ui
from sparsecli.errors import ConfigError

COMMANDS = ("encode", "index", "search", "eval")
# The user-facing config groups of each command, for --help and completion.
COMMAND_GROUPS = {
    "encode": ("data", "encoder", "experiment"),
    "index": ("index", "experiment"),
    "search": ("search", "experiment"),
    "eval": ("eval", "experiment"),
}
# Mandatory groups get a stand-in for `--help`, which composes the config to print it.
HELP_STAND_INS = {"encode": "data=beir"}
CONF_ENV = "SPARSECLI_CONF"


def conf_dirs() -> list[Path]:
    """Config folders in search order: the package's, then ./conf and $SPARSECLI_CONF entries."""
    dirs = [Path(str(resources.files("sparsecli") / "conf"))]
    dirs += extra_conf_dirs()
    return dirs


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


def check_group_choices(overrides: list[str]) -> None:
    """Reject an unknown group option with one line, before Hydra prints a page about it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    candidates = [arg for arg in overrides if "=" in arg and not arg.startswith("-")]  # not Hydra's flags
    try:
        parsed = OverridesParser.create().parse_overrides(candidates)
    except HydraException:
        return  # syntax errors: Hydra reports those precisely
    for override in parsed:
        group = override.key_or_group
        if group.startswith("hydra") or override.is_delete() or "." in group:
            continue
        options = available_options(group)
        if options is None:
            continue
        if override.is_sweep_override():
            if not override.is_choice_sweep():
                continue  # globs and ranges are left to Hydra
            values = list(override.sweep_string_iterator())
        else:
            values = [override.get_value_element_as_str()]
        for value in values:
            if value not in options and value != "null":
                raise ConfigError(
                    f"unknown option {group}={value}",
                    where=f"override '{override.input_line}'",
                    fix=f"choose one of: {', '.join(sorted(options))}",
                )


def groups_help(command: str) -> str:
    """The `== Config groups ==` section of `sparse <command> --help`."""
    lines = []
    for group in COMMAND_GROUPS[command]:
        options = available_options(group)
        if options:
            lines.append(f"{group}: {', '.join(sorted(options))}")
    return "\n".join(lines)


def _key_resolver(*, _root_) -> str:
    from sparsecli.rundir import compute_key

    return compute_key(str(_root_.hydra.job.name), key_config(_root_))


def key_config(cfg) -> dict:
    """The resolved config as a plain dict, minus what does not affect results."""
    from omegaconf import OmegaConf

    from sparsecli.rundir import NOT_IN_KEY

    container = {}
    for name in cfg:
        if name in NOT_IN_KEY:
            continue
        value = cfg[name]
        container[name] = (
            OmegaConf.to_container(value, resolve=True, enum_to_str=True) if OmegaConf.is_config(value) else value
        )
    return container


def register() -> None:
    """Resolvers and structured-config schemas; idempotent."""
    from omegaconf import OmegaConf

    from sparsecli import config

    if not OmegaConf.has_resolver("sparse_key"):
        OmegaConf.register_new_resolver("sparse_key", _key_resolver, use_cache=False)
        OmegaConf.register_new_resolver("sparse_groups", groups_help)
    config.register()


def run(command: str, overrides: list[str]) -> None:
    """Run `command` through @hydra.main with `overrides` as its command line."""
    import hydra

    from sparsecli import tasks

    try:
        check_group_choices(overrides)
    except ConfigError as err:
        ui.error(err.line())
        raise SystemExit(err.exit_code) from None
    register()
    stand_in = HELP_STAND_INS.get(command)
    if "--help" in overrides and stand_in and not any(o.startswith(stand_in.split("=")[0] + "=") for o in overrides):
        overrides = [*overrides, stand_in]
    main = hydra.main(config_path="conf", config_name=command, version_base="1.3")(tasks.TASKS[command])
    saved = sys.argv
    sys.argv = [f"sparse {command}", *overrides]
    try:
        main()
    finally:
        sys.argv = saved
