"""What every structured config shares: field kinds, the registry of group options, and the
settings common to every command.

Each config class is a plain dataclass that lives beside the code it configures and is
exactly what that code receives (`OmegaConf.to_object`). A config group has a base class;
each of its options is a subclass registered with `@option(group, name)` by its own
package, and the command schema types the group's field by the base, as in Hydra's
structured-config examples. So `search=approx search.algorithm=maxscore` fails while the
config is composed: the approximate schema has no `algorithm`.

OmegaConf checks types and enum values during composition; range checks live in each
class's `__post_init__`. Field metadata tells the run key what a field means:
- `runtime_field`: how a run executes, never what it writes; left out of the key;
- `location_field`: where inputs are read from; left out of the key, whose command hashes
  the content it reads instead (a copied collection keeps its key);
- `path_field`: a local file or folder, or a hub id; the key holds the content of a local
  one (sha256) and the id otherwise;
- `upstream_field`: the run directory of another command; the key holds that run's key;
- `late_field`: added after runs were keyed; left out of the key (and the manifest) while it
  holds its default, so runs made before it existed keep their keys and stay cache hits.

Nothing here imports omegaconf or hydra, so `sparse --help` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any, Callable, Mapping, Optional

from sparsecli.errors import ConfigError

MISSING: Any = "???"  # OmegaConf's marker for a value the user must give (omegaconf.MISSING)

# group -> option name -> schema class, filled by @option as the option modules are imported
OPTIONS: dict[str, dict[str, type]] = {}


def option(group: str, name: str) -> Callable[[type], type]:
    """Register a dataclass as option `name` of config group `group` (schema/<group>/<name>)."""

    def register(cls: type) -> type:
        OPTIONS.setdefault(group, {})[name] = cls
        return cls

    return register


def as_dict(config: Any, stand_in: Optional[Callable[[Any, Mapping], Any]] = None) -> Any:
    """A config as plain JSON values (enums by value), without its runtime and location
    fields: what a manifest records about how an artifact was made. `stand_in(value,
    metadata)` may replace the value of a field with metadata: the run key puts content
    hashes and upstream run keys there."""
    if is_dataclass(config):
        out = {}
        for f in fields(config):
            in_key = f.metadata.get("in_key", True)
            value = getattr(config, f.name)
            if not in_key or (in_key == "unless_default" and value == _default(f)):
                continue
            if stand_in is not None and f.metadata:
                value = stand_in(value, f.metadata)
            out[f.name] = as_dict(value, stand_in)
        return out
    if isinstance(config, Enum):
        return config.value
    if isinstance(config, (list, tuple)):
        return [as_dict(v, stand_in) for v in config]
    if isinstance(config, dict):
        return {k: as_dict(v, stand_in) for k, v in config.items()}
    return config


def check(ok: bool, where: str, message: str, fix: str) -> None:
    """Raise a ConfigError naming the field unless `ok`."""
    if not ok:
        raise ConfigError(message, where=where, fix=fix)


def check_distinct(values, where: str, fix: str) -> None:
    """Raise a ConfigError naming the field when a name appears twice in `values`."""
    values = list(values)
    twice = next((v for i, v in enumerate(values) if v in values[:i]), None)
    check(twice is None, where, f"names {twice!r} twice", fix)


def _default(f) -> Any:
    from dataclasses import MISSING as NONE

    return f.default_factory() if f.default is NONE and f.default_factory is not NONE else f.default


def runtime_field(default: Any = None, factory: Optional[Callable[[], Any]] = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"in_key": False})
    return field(default=default, metadata={"in_key": False})


def location_field(default: Any = None, factory: Optional[Callable[[], Any]] = None) -> Any:
    return runtime_field(default, factory)  # the same for the key; the name says why


def late_field(default: Any = None, factory: Optional[Callable[[], Any]] = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"in_key": "unless_default"})
    return field(default=default, metadata={"in_key": "unless_default"})


def path_field(default: Any = None) -> Any:
    return field(default=default, metadata={"path": True})


def upstream_field(command: str, files: bool = False, also: tuple[str, ...] = ()) -> Any:
    """`files`: the field also takes plain files (eval reads TREC run files); `also`: other
    commands whose runs it takes (eval reads train-rec runs as search runs)."""
    return field(default=MISSING, metadata={"upstream": command, "files": files, "also": also})


class ProgressMode(Enum):
    auto = "auto"  # a bar on a terminal, log lines otherwise
    bar = "bar"
    log = "log"
    none = "none"


class Backend(Enum):
    processes = "processes"  # runtime.workers processes on this machine (worker 0 is this one)
    ray = "ray"  # runtime.workers Ray actors (a GPU each where the cluster has GPUs)


@dataclass
class RuntimeConfig:
    """How a run executes; never part of the run key. Where torch sums floats (learned
    encoders, train-rec) the bytes follow the thread count, the same at the same count; a run
    made at another count is reused (train-rec and prune say so) unless runtime.force=true."""

    force: bool = False  # recompute even when the run directory is complete
    threads: int = 0  # 0 = all cores (shared out among workers)
    # Processes encoding document shards (sparse encode, learned encoders): byte-identical
    # vectors for any count, at the same threads per worker; 1 = this process alone.
    workers: int = 1
    # Where those workers run: processes here, or actors of the Ray cluster that ray.init()
    # finds (RAY_ADDRESS; a local one otherwise). The bytes are the same either way.
    backend: Backend = Backend.processes
    progress: ProgressMode = ProgressMode.auto
    progress_interval: float = 10.0  # seconds between progress log lines without a terminal

    def __post_init__(self) -> None:
        check(self.threads >= 0, "runtime.threads", f"must be >= 0, got {self.threads}", "use 0 for all cores")
        check(self.workers >= 1, "runtime.workers", f"must be >= 1, got {self.workers}", "pass 1 for one process")
        check(self.progress_interval > 0, "runtime.progress_interval", "must be > 0", "pass a number of seconds")


@dataclass
class CommonConfig:
    """Fields of every command's config."""

    runs_root: str = runtime_field("runs")  # run directories go to <runs_root>/<command>/<key>/
    data_root: Optional[str] = location_field()  # when set, named datasets read local copies under it
    seed: int = 0
    runtime: RuntimeConfig = runtime_field(factory=RuntimeConfig)

    def __post_init__(self) -> None:
        check(
            bool(self.runs_root.strip()),
            "runs_root",
            "is empty (SPARSECLI_RUNS set to nothing?)",
            "pass a folder, e.g. runs_root=runs, or unset SPARSECLI_RUNS",
        )
