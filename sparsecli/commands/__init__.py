"""The command registry: each module in this package is one `sparse` command.

A command module declares a `COMMAND = Command(...)`: its name and help, its config schema,
its body and how it shows results. The Typer router (sparsecli/cli.py), the Hydra bridge
and the run keys (sparsecli/runs/) all read this registry, so a new command is one module
here plus its `sparsecli/conf/<name>.yaml`.

Command modules import only config classes at the top, so that `sparse --help` lists the
commands without importing numpy, torch or Hydra; their bodies import what they use.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

if TYPE_CHECKING:
    from sparsecli.runs.rundir import RunDir


class Command(NamedTuple):
    name: str  # `sparse <name>`; also the YAML file, the Hydra job name and runs/<name>/
    help: str  # one line for `sparse --help`
    order: int  # position in `sparse --help`: the pipeline's order
    schema: type  # the job config: a dataclass extending sparsecli.schema.CommonConfig
    body: Callable[["RunDir", Any], None]  # does the work inside the run directory
    # Bump when the command's artifacts change meaning: it is part of every run key.
    version: int = 1
    groups: tuple[str, ...] = ()  # user-facing config groups, for --help and completion
    # Content of inputs read from outside run directories (e.g. a collection's files), for
    # the run key: {name: fingerprint}. Paths alone would miss a copied collection.
    inputs: Optional[Callable[[Any], dict]] = None
    # Checks that need the inputs or upstream runs (e.g. that search=approx has a Seismic
    # index to search), run before any directory is made; raise a SparseError.
    check: Optional[Callable[[Any], None]] = None
    show: Optional[Callable[["RunDir"], None]] = None  # prints results on stdout after the run
    # Columns for the table that ends a `-m` sweep: {column: value} of one finished run.
    summary: Optional[Callable[["RunDir"], dict]] = None
    # Overrides that let `--help` compose without the groups a user must choose.
    help_overrides: tuple[str, ...] = ()
    # Whether its body splits work over runtime.workers processes (encode's document shards).
    workers: bool = False
    # Under torchrun (runs/world.py): "shards" when the ranks split the work and the bytes are
    # the same for any number of them (encode); "data_parallel" when the ranks average their
    # gradients, so the number of ranks is part of the run key (train-rec); "" when the
    # command runs in one process and refuses torchrun.
    torchrun: str = ""
    # Whether its artifacts' bytes follow the thread count (torch training sums in another
    # order): threads stay out of the key, and a cache hit made at another count says so.
    threads_change_bytes: bool = False

    def upstream(self) -> dict[str, dataclasses.Field]:
        """{name: field} of the fields that name other commands' run directories; a field's
        metadata["upstream"] is that command, and metadata["files"] whether it takes files too."""
        return {f.name: f for f in dataclasses.fields(self.schema) if "upstream" in f.metadata}


_COMMANDS: dict[str, Command] = {}


def commands() -> dict[str, Command]:
    """Every command, in pipeline order: the COMMAND of each module of this package."""
    if not _COMMANDS:
        found = []
        for module in pkgutil.iter_modules(__path__):
            command = importlib.import_module(f"{__name__}.{module.name}").COMMAND
            found.append(command)
        _COMMANDS.update((c.name, c) for c in sorted(found, key=lambda c: c.order))
    return _COMMANDS


def get(name: str) -> Command:
    return commands()[name]
