"""The bridge from `sparse <command> <overrides>` to Hydra's own entry point.

Typer only routes: each command's arguments go, untouched, to `@hydra.main`, so config
groups, overrides, `-m` sweeps, launcher plugins, `--cfg job` and `--help` behave exactly
as in any Hydra app. Before that, every job the command line describes is composed and
checked (runs/validate.py), so a mistake costs one line and no directory. This module is
the only place that touches `sys.argv`.
"""

from __future__ import annotations

import os
import sys
import time

from sparsecli import ui
from sparsecli.commands import commands, get
from sparsecli.errors import SparseError
from sparsecli.runs.groups import options_for

SWEEP_ENV = "SPARSECLI_SWEEP_ID"  # names a sweep's record folder, for every job of the sweep


def groups_help(command: str) -> str:
    """The `== Config groups ==` section of `sparse <command> --help`."""
    lines = []
    for group in get(command).groups:
        options = options_for(get(command), group)
        if options:
            lines.append(f"{group}: {', '.join(sorted(options))}")
    stand_ins = get(command).help_overrides
    if stand_ins:  # the required choices, filled in below only so that a config can be shown
        verb, pronoun = ("fills", "it") if len(stand_ins) == 1 else ("fill", "them")
        lines.append(f"\nUnless given, {' '.join(stand_ins)} {verb} in the config below; a run must choose {pronoun}.")
    return "\n".join(lines)


def _key_resolver(*, _root_) -> str:
    """`${sparse_key:}` in hydra.run.dir and hydra.sweep.subdir: the run key of this job."""
    from omegaconf import open_dict

    from sparsecli.runs.keys import run_key
    from sparsecli.runs.protocol import to_object

    job = _root_.copy()
    with open_dict(job):
        del job["hydra"]
    command = get(str(_root_.hydra.job.name))
    try:
        return run_key(command, to_object(job, command))[0]
    except Exception:  # noqa: BLE001  (the task meets the same fault, reports it and removes the directory)
        return "invalid"


def register() -> None:
    """Resolvers and structured-config schemas; idempotent. Each command module imports the
    base classes of its groups, and importing a base class's module first runs its package's
    __init__, which imports (and so registers) the group's options."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from sparsecli.schema import OPTIONS

    if not OmegaConf.has_resolver("sparse_key"):
        OmegaConf.register_new_resolver("sparse_key", _key_resolver, use_cache=False)
        OmegaConf.register_new_resolver("sparse_groups", groups_help)
    store = ConfigStore.instance()
    for command in commands().values():
        store.store(name=f"{command.name}_schema", node=command.schema)
    for group, options in OPTIONS.items():
        for name, schema in options.items():
            store.store(group=f"schema/{group}", name=name, node=schema)


def _checked(command, argv: list[str]) -> None:
    """Check the command line; any failure is one line and an exit code, never a traceback."""
    from sparsecli.runs import protocol, validate, world

    try:
        processes = world.current().size
        if processes > 1:
            from sparsecli.errors import ConfigError

            if not command.torchrun:
                raise ConfigError(
                    f"sparse {command.name} runs in one process, and torchrun started {processes}",
                    where="torchrun",
                    fix=f"run sparse {command.name} without torchrun",
                )
            if {"-m", "--multirun"} & set(argv):
                raise ConfigError(
                    "a sweep's jobs are separate runs, and torchrun's ranks share one",
                    where="-m",
                    fix="launch each job with torchrun, or sweep without torchrun",
                )
        validate.check(command, argv)
    except SparseError as err:
        ui.error(err.line())
        raise SystemExit(err.exit_code) from None
    except Exception as err:  # noqa: BLE001  (reported as one line, traceback in a log file)
        ui.error(protocol.report_crash(err, command.name, validate.split(argv)[0]))
        raise SystemExit(protocol.FAILED) from None


def run(name: str, argv: list[str]) -> None:
    """Run command `name` through @hydra.main with `argv` as its command line."""
    import hydra

    from sparsecli.runs import protocol, sweep
    from sparsecli.runs.validate import split

    command = get(name)
    register()
    overrides, flags = split(argv)
    if "--version" in flags:  # Hydra's own --version would print Hydra's
        from sparsecli import __version__

        print(f"sparsecli {__version__}")
        return
    if "--hydra-help" in flags:
        overrides = []  # Hydra's help composes none of them
    if {"--help", "-h"} & set(flags):
        given = {o.partition("=")[0] for o in overrides}
        overrides += [o for o in command.help_overrides if o.partition("=")[0] not in given]
    argv = [*flags, *overrides]
    multirun = bool({"-m", "--multirun"} & set(flags))
    main = hydra.main(config_path="pkg://sparsecli.conf", config_name=name, version_base="1.3")(protocol.task)
    saved = sys.argv
    try:
        with protocol.sigterm_interrupts():
            _checked(command, argv)
            if multirun:
                os.environ[SWEEP_ENV] = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
                sweep.failed_jobs.clear()
            sys.argv = [f"sparse {name}", *argv]
            main()
    except (KeyboardInterrupt, protocol.Terminated) as err:  # outside a job: a job reports its own
        ui.message("interrupted; nothing was kept")
        raise SystemExit(
            protocol.TERMINATED if isinstance(err, protocol.Terminated) else protocol.INTERRUPTED
        ) from None
    finally:
        sys.argv = saved
    if multirun and sweep.failed_jobs:
        raise SystemExit(max(code for code, _ in sweep.failed_jobs))
