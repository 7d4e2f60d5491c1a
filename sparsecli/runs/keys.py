"""Run keys: what names a run directory, `<runs_root>/<command>/<key>/`.

The key hashes what determines a run's artifacts, so the same work always lands in the same
directory and a rerun is a cache hit:
- the job config, resolved, without the fields marked `runtime_field` or `location_field`
  (sparsecli/schema.py: how a run executes, and where inputs live);
- a `path_field` by the content of the local file or folder it names (sha256), by the run
  key of a run directory, and by its value otherwise (a hub id), so `../data` and
  `/abs/data` give one key, as does a copy;
- an `upstream_field` by the key of the run it names (so keys chain, as DVC stages do), or
  by a file's content;
- the command's `inputs` (e.g. the content of the collection's files);
- the command's name and version;
- the number of torchrun processes, for a command whose results depend on it (train-rec's
  data-parallel training: its effective batch).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sparsecli.io.checksum import fingerprint
from sparsecli.runs.rundir import read_done
from sparsecli.schema import as_dict

if TYPE_CHECKING:
    from sparsecli.commands import Command

KEY_LENGTH = 16


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _run_identity(path: Path) -> str | None:
    """`<command>:<key>` of a complete run directory; None for anything else."""
    done = read_done(path)
    return f"{done.get('command', '?')}:{done['key']}" if done is not None and "key" in done else None


def upstream_key(reference: str) -> str:
    """What an upstream reference contributes to a key: its run key, or a file's content.

    An incomplete or missing upstream gets a placeholder; the command then stops with a
    clear error before doing any work.
    """
    path = Path(reference)
    run = _run_identity(path)
    if run is not None:
        return run
    if path.is_file():
        return f"file:{fingerprint(path)}"
    return f"missing:{path.resolve()}"


def path_identity(value: str) -> str:
    """A local file or folder by its content; a complete run directory (a `sparse prune` run
    read as a model folder) by its run key, since its logs and meta.json change on every
    call; anything else (a hub id, a name) as given."""
    path = Path(value).expanduser()
    run = _run_identity(path) if path.is_dir() else None
    if run is not None:
        return run
    if path.exists():
        return f"sha256:{fingerprint(path)}"
    return value


def _inputs_by_content(value: Any, meta: Mapping) -> Any:
    """A field's value as the key holds it: upstream runs by key, local paths by content."""
    if "upstream" in meta and value is not None:
        return [upstream_key(str(r)) for r in value] if isinstance(value, (list, tuple)) else upstream_key(value)
    if meta.get("path") and isinstance(value, str):
        return path_identity(value)
    return value


def key_view(conf: Any) -> dict:
    """The part of a job config that determines results, as plain JSON values."""
    return as_dict(conf, _inputs_by_content)


def run_key(command: "Command", conf: Any) -> tuple[str, dict]:
    """The key of a run of `command` with job config `conf` (the dataclass object), and
    what it hashes, as recorded in meta.json."""
    view = {"config": key_view(conf)}
    if command.inputs is not None:
        view["inputs"] = command.inputs(conf)
    if command.torchrun == "data_parallel":
        from sparsecli.runs import world

        size = world.current().size
        if size > 1:
            view["world_size"] = size
    payload = {"command": command.name, "version": command.version, **view}
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:KEY_LENGTH], view
