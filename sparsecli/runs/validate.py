"""Check a command line before Hydra runs it, and explain what is wrong in one line.

Hydra reports a bad override as a page of text (or a traceback, for a missing value), and
only once it is already running. So every job the command line describes is first composed
with Hydra's compose API and the same overrides, and each failure becomes a ConfigError
(exit 2) naming the field, what is wrong and how to fix it: an unknown option or key with
the closest valid one ("did you mean encoder.k1?"; never a `+`, which would add a new key),
a value of the wrong type, a required field left out (with an example), a range check.
Then the upstream runs are opened and the command's own checks run (input files, a search
that does not fit its index), so that nothing is created for a job that cannot run.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import re
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from sparsecli.commands import Command
from sparsecli.errors import ConfigError, SparseError
from sparsecli.runs.groups import (
    CONF_ENV,
    PRESETS,
    available_options,
    conf_dirs,
    groups_of,
    option_file,
    options_for,
)

# Hydra flags after which the next argument is the flag's value, not an override.
_FLAGS_WITH_VALUES = {"--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path", "-cp",
                      "--config-dir", "-cd", "--experimental-rerun"}  # fmt: skip
_INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
_KNOWN_FLAGS = _FLAGS_WITH_VALUES | {"--help", "-h", "--hydra-help", "--version", "--resolve", "--run", "-r",
                                    "--multirun", "-m", "--shell-completion", "-sc", "--info", "-i"}  # fmt: skip
_INFO_FLAGS = {"--help", "-h", "--hydra-help", "--info", "-i"}  # Hydra prints and runs nothing
_HELP_FLAGS = {"--help", "-h"}  # ... but composes the overrides into the config it shows
# Hydra's flags that sparse does not support, and what to do instead.
_UNSUPPORTED = {
    "--config-name": "the command chooses its config",
    "-cn": "the command chooses its config",
    "--config-path": "put configs of your own in ./conf or in $SPARSECLI_CONF",
    "-cp": "put configs of your own in ./conf or in $SPARSECLI_CONF",
    "--config-dir": "put configs of your own in ./conf or in $SPARSECLI_CONF",
    "-cd": "put configs of your own in ./conf or in $SPARSECLI_CONF",
    "--shell-completion": "sparse completes group options itself",
    "-sc": "sparse completes group options itself",
    "--experimental-rerun": "rerun the command: a finished run is a cache hit",
}
_KEYED_DIRS = {"hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir"}  # where sparse keeps runs
_SWEEPS_TO_CHECK = 256  # composing costs ~0.1 s a job; a larger sweep is checked on its first jobs


# Other names the field uses for an option, where the closest spelling would mislead (gmp -> imp).
ALSO_CALLED = {"gmp": "gradual", "two-tower": "two_tower"}


def did_you_mean(word: str, candidates: Iterable[str], prefix: str = "") -> str:
    candidates = set(candidates)
    if ALSO_CALLED.get(word) in candidates:
        return f"did you mean {prefix}{ALSO_CALLED[word]} (what {word} is called here)?"
    # Short names get a lower bar, so that a one-letter typo is found (kl -> k1).
    cutoff = 0.5 if len(word) <= 3 else 0.6
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=cutoff)
    return f"did you mean {prefix}{close[0]}?" if close else ""


def _fields(object_type: Any) -> list[dataclasses.Field]:
    return list(dataclasses.fields(object_type)) if dataclasses.is_dataclass(object_type) else []


def _example(full_key: str, object_type: Any) -> str:
    """`, e.g. key=<default>` when the field has a plain default."""
    for f in _fields(object_type):
        if f.name == full_key.rpartition(".")[2]:
            default = f.default
            if isinstance(default, Enum):
                default = default.value
            if default is not dataclasses.MISSING and default not in (None, "???"):
                return f", e.g. {full_key}={default}"
    return ""


def unknown_key(full_key: str, object_type: Any, groups: Iterable[str] = ()) -> ConfigError:
    parent, _, name = full_key.rpartition(".")
    valid = {f.name for f in _fields(object_type)} | (set(groups) if not parent else set())
    prefix = f"{parent}." if parent else ""
    hint = did_you_mean(name, valid, prefix)
    listing = ", ".join(f"{prefix}{v}" for v in sorted(valid))
    return ConfigError(
        f"no such setting {full_key}",
        where=full_key,
        fix=f"{hint} (settings here: {listing})" if hint else f"settings here: {listing}",
    )


TYPE_NAMES = {"Float": "a number", "Integer": "an integer", "Boolean": "true or false", "String": "a string"}


def bad_value(full_key: str, message: str, object_type: Any, value: str) -> ConfigError:
    """An OmegaConf ValidationError's message as a line a user can act on."""
    example = _example(full_key, object_type)
    enum = re.search(r"expected one of \[(.*)\]", message)
    if enum:
        options = [o.strip() for o in enum.group(1).split(",")]
        hint = did_you_mean(value, options, f"{full_key}=")
        return ConfigError(
            f"unknown value {value!r}",
            where=full_key,
            fix=(f"{hint} " if hint else "") + f"choose one of: {', '.join(options)}",
        )
    if "is not Optional" in message:
        return ConfigError("null is not allowed here", where=full_key, fix=f"pass a value{example}")
    if "is not a ListConfig" in message:
        return ConfigError(f"{value!r} is not a list", where=full_key, fix=f"pass a list, e.g. {full_key}=[a,b]")
    if "is not a subclass of" in message:
        return ConfigError(
            "is a group of settings, not a value", where=full_key, fix=f"set one of them: {full_key}.<name>=<value>"
        )
    kind = re.search(r"converted to (\w+)|is not a valid (\w+)", message)
    if kind is None:
        return ConfigError(f"{value!r} has the wrong type", where=full_key, fix=f"pass another value{example}")
    name = kind.group(1) or kind.group(2)
    wanted = TYPE_NAMES.get(name, "true or false" if name == "bool" else f"a {name}")
    return ConfigError(f"{value!r} is not {wanted}", where=full_key, fix=f"pass {wanted}{example}")


def missing_value(full_key: str, command: Command, overrides: Sequence[str] = ()) -> ConfigError:
    field = command.upstream().get(full_key)
    if field is not None:
        upstream = field.metadata["upstream"]
        return ConfigError(
            "missing: which run to read",
            where=full_key,
            fix=f"pass the directory that `sparse {upstream} ...` printed, e.g. {full_key}={_example_run(upstream, overrides)}",
        )
    return ConfigError("missing: this setting has no default", where=full_key, fix=f"pass {full_key}=<value>")


def _example_run(command: str, overrides: Sequence[str]) -> str:
    """The newest complete run of `command`, if any, else a placeholder."""
    from sparsecli.runs.rundir import DONE, read_done, runs_root

    root = runs_root(overrides) / command
    done = [p for p in root.iterdir() if read_done(p)] if root.is_dir() else []
    if done:
        return str(max(done, key=lambda p: (p / DONE).stat().st_mtime))
    return f"runs/{command}/<key>"


def _given(full_key: str, overrides: list[str], message: str) -> str:
    """The value OmegaConf's message quotes, else the one the command line gave `full_key`
    (the message is right where a preset or option file set the value)."""
    quoted = re.search(r"Value '(.*?)' (?:of type|could not)", message)
    if quoted:
        return quoted.group(1)
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key == full_key:
            return value
    return "?"


def explain(err: Exception, command: Command, overrides: list[str] = ()) -> SparseError:
    """A Hydra or OmegaConf error raised while composing or building a job config, as one line."""
    import yaml
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf import OmegaConf
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        ConfigTypeError,
        InterpolationResolutionError,
        MissingMandatoryValue,
        ValidationError,
    )

    if isinstance(err, SparseError):
        return err
    for linked in (err.__cause__, err.__context__):
        if isinstance(linked, SparseError):  # raised in a __post_init__, wrapped by OmegaConf
            return linked
    cause = err.__cause__ or err.__context__ or err
    message = str(err).strip()
    first = message.splitlines()[0] if message else type(err).__name__
    if isinstance(err, OverrideParseException):
        return ConfigError(
            f"cannot parse the override ({first})",
            where="command line",
            fix="write key=value, and quote a value holding ( ) = $ ~ or spaces: 'key=\"value\"'",
        )
    if isinstance(err, MissingConfigException):
        return ConfigError(first, where="command line", fix="check the option names in `--help`")
    if isinstance(err, yaml.YAMLError):
        return _yaml_error(err, overrides)
    source = re.match(r"In '([\w./-]+)':", message)  # raised while composing a preset or option file
    source_file = option_file(*source.group(1).split("/", 1)) if source and "/" in source.group(1) else None
    where = f" (in {source_file or source.group(1) + '.yaml'})" if source else ""
    no_match = re.search(r"Could not override '([\w./-]+)'\. No match in the defaults list", message)
    if no_match:
        group = no_match.group(1)
        if source:
            return ConfigError(
                f"{source.group(1)}.yaml sets the {group} group, which `sparse {command.name}` does not have",
                where=source.group(1),
                fix="use this preset with the command it was written for",
            )
        return ConfigError(f"{group} is not chosen by default", where=group, fix=f"add it with +{group}=<option>")
    packaged = re.search(r"Could not override '([\w./-]+)@experiment\.", message)
    if packaged and source:  # a group override in a preset composed under `experiment.`
        return ConfigError(
            f"overrides the {packaged.group(1)} group but is not a global package",
            where=str(source_file or source.group(1)),
            fix="make `# @package _global_` its first line, as presets need",
        )
    twice = re.search(r"Multiple values for ([\w./-]+)\. To override a value use '(override [^']+)'", message)
    if twice:
        presets = [o.lstrip("+").partition("=")[2] for o in overrides if o.lstrip("+").startswith(f"{PRESETS}=")]
        file = option_file(PRESETS, presets[0]) if presets else None
        return ConfigError(
            f"the {twice.group(1)} group is chosen twice",
            where=str(file) if file else "a preset's defaults list",
            fix=f"write `- {twice.group(2).replace('override ', 'override /')}` in the preset's defaults list",
        )
    if "Config group override must be a string or a list. Got NoneType" in message:
        nulled = next((o.lstrip("+").partition("=")[0] for o in overrides if o.endswith("=null")), "a group")
        return ConfigError(
            f"`sparse {command.name}` needs a {nulled} option",
            where=f"override '{nulled}=null'",
            fix=_choose(command, nulled),
        )
    required = re.search(r"You must specify '([\w./-]+)'", message)
    if required:
        group = required.group(1)
        options = sorted(options_for(command, group) or [])
        return ConfigError(
            f"missing: choose an option of the {group} group",
            where=group,
            fix=f"pass e.g. {group}={options[0] if options else '<option>'}"
            + (f" (options: {', '.join(options)})" if options else ""),
        )
    full_key = getattr(cause, "full_key", None) or ""
    parent = getattr(cause, "parent_node", None)
    parent_type = OmegaConf.get_type(parent) if parent is not None else getattr(cause, "object_type", None)
    if isinstance(cause, MissingMandatoryValue):
        return missing_value(full_key, command, overrides)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and full_key:
        if source and "." not in full_key and full_key == source.group(1).split("/")[0]:
            empty = source_file is not None and yaml.safe_load(source_file.read_text(encoding="utf-8")) is None
            return ConfigError(
                "is empty" if empty else f"puts its settings under `{full_key}:`",
                where=str(source_file or f"{source.group(1)}.yaml"),
                fix="write its settings after a first line `# @package _global_`"
                if empty
                else "make `# @package _global_` its first line, as presets need",
            )
        mapping = full_key.rpartition(".")[0]
        if parent_type is dict and mapping:  # a Dict[str, ...] field: its keys are the user's
            return ConfigError(
                "a mapping, set as a whole",
                where=mapping,
                fix=f"pass '++{mapping}={{<key>: <value>, ...}}' (++ replaces the entries it has)",
            )
        error = unknown_key(full_key, parent_type, groups_of(command))
        return ConfigError(error.what + where, where=error.where, fix=error.fix)
    if isinstance(cause, ValidationError) and full_key:
        error = bad_value(full_key, str(cause), parent_type, _given(full_key, list(overrides), str(cause)))
        return ConfigError(error.what + where, where=error.where, fix=error.fix)
    resolving = err if isinstance(err, InterpolationResolutionError) else cause
    if isinstance(resolving, InterpolationResolutionError):
        reason = str(resolving).splitlines()[0].removeprefix("KeyError raised while resolving interpolation: ")
        return ConfigError(
            reason, where=getattr(resolving, "full_key", None) or "a ${...} value", fix="check the ${...} it refers to"
        )
    if isinstance(cause, ConfigTypeError) and "deletion" in str(cause):
        return ConfigError("cannot delete a setting", where=full_key, fix=f"set it instead: {full_key}=<value>")
    if isinstance(err, ConfigCompositionException):
        return ConfigError(first, where="command line", fix="check the overrides against `--help`")
    return ConfigError(first, fix="check the config values")


def _yaml_error(err: Exception, overrides: Iterable[str]) -> ConfigError:
    """A YAML syntax error names no file: find it among the files the overrides choose."""
    import yaml

    mark = getattr(err, "problem_mark", None)
    at = f", line {mark.line + 1}" if mark is not None else ""
    for override in overrides:
        group, _, option = override.lstrip("+~").partition("=")
        for base in conf_dirs():
            candidate = base / group / f"{option}.yaml"
            if candidate.is_file():
                try:
                    yaml.safe_load(candidate.read_text(encoding="utf-8"))
                except yaml.YAMLError:
                    return ConfigError(f"not valid YAML{at}", where=str(candidate), fix="fix its syntax")
    return ConfigError(f"not valid YAML{at} ({str(err).splitlines()[0]})", where="a config file", fix="fix its syntax")


# --------------------------------------------------------------------------- the command line


def split(argv: list[str]) -> tuple[list[str], list[str]]:
    """The overrides, and Hydra's flags with their values, each in their order. Hydra's
    parser takes its flags before the overrides, so the bridge passes them first; `--flag=value`
    becomes `--flag value`, and a bare `--info` gets its default, `all`, so that the override
    placed after it is not taken for its value."""
    overrides, flags, value_next = [], [], False
    for arg in argv:
        name, equals, value = arg.partition("=")
        if value_next or (flags and flags[-1] in ("--info", "-i") and arg in _INFO_CHOICES):
            flags.append(arg)
            value_next = False
        elif arg.startswith("-") and (not equals or name in _KNOWN_FLAGS):
            flags += [name, value] if equals else [arg]
            value_next = not equals and arg in _FLAGS_WITH_VALUES
        else:
            overrides.append(arg)
    for i, flag in reversed(list(enumerate(flags))):
        if flag in ("--info", "-i") and (i + 1 == len(flags) or flags[i + 1] not in _INFO_CHOICES):
            flags.insert(i + 1, "all")
    return overrides, flags


def check_flag_tokens(tokens: list[str]) -> None:
    """Unknown flags and bad --cfg values, in one line rather than argparse's usage page."""
    value_of = None
    for token in tokens:
        if value_of is not None:
            if value_of in ("--cfg", "-c") and token not in ("job", "hydra", "all"):
                raise ConfigError(
                    f"--cfg {token}: unknown part", where="command line", fix="pass --cfg job (or hydra, all)"
                )
            value_of = None
        elif token in _INFO_CHOICES:  # --info's value
            continue
        elif token not in _KNOWN_FLAGS:
            hint = did_you_mean(token, _KNOWN_FLAGS)
            raise ConfigError(
                f"unknown flag {token}",
                where="command line",
                fix=(f"{hint} " if hint else "") + "overrides are key=value; flags: --help, --cfg job, -m, --resolve",
            )
        else:
            value_of = token if token in _FLAGS_WITH_VALUES else None


def _parse(overrides: list[str]) -> list:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(overrides)


def check_names(command: Command, parsed: list) -> None:
    """Reject an unknown top-level name, or an unknown option of a group, with the closest
    known one; before anything is composed, since Hydra's own message would be a page."""
    groups = groups_of(command)
    valid = {f.name for f in _fields(command.schema)} | groups
    for override in parsed:
        name = override.key_or_group
        if name.startswith("hydra"):
            continue
        if "." in name:  # a setting inside a group: composing checks it, but not whose group it is
            root = name.split(".")[0]
            elsewhere = root not in valid and _elsewhere(root, command)
            if elsewhere:
                raise elsewhere
            continue
        if name not in valid:
            raise _elsewhere(name, command) or unknown_key(name, command.schema, groups)
        if name == PRESETS and not (override.is_add() or override.is_force_add() or override.is_delete()):
            # Hydra would first ask for the groups the preset chooses, then say this
            raise ConfigError(
                f"{PRESETS} is not chosen by default",
                where=f"override '{override.input_line}'",
                fix=f"add a preset with a +: +{override.input_line}",
            )
        options = available_options(name)
        sweep = override.is_sweep_override()
        if (
            options is None
            or override.is_delete()
            or (sweep and not (_is_glob(override) or override.is_choice_sweep()))
        ):
            continue
        if _is_glob(override):  # the options it matches, as Hydra's sweeper will list them
            values = override.value().filter(sorted(options))
            if not values:
                raise ConfigError(
                    f"{override.input_line} matches no option of {name}",
                    where=f"override '{override.input_line}'",
                    fix=_choose(command, name),
                )
        else:
            values = list(override.sweep_string_iterator()) if sweep else []
        fitting = options_for(command, name) or set()
        for value in values or [override.get_value_element_as_str()]:
            if value in options and value not in fitting:
                raise ConfigError(
                    f"{name}={value} is for other commands, not `sparse {command.name}`",
                    where=f"override '{override.input_line}'",
                    fix=_choose(command, name),
                )
            if value not in options and value != "null":
                hint = did_you_mean(value, fitting, f"{name}=")
                raise ConfigError(
                    f"unknown option {name}={value}",
                    where=f"override '{override.input_line}'",
                    fix=(f"{hint} " if hint else "") + _choose(command, name),
                )


def _elsewhere(name: str, command: Command) -> ConfigError | None:
    """A top-level setting of other commands only (`encoder` given to prune): name them, since
    the closest spelling here would mislead (encoder -> recovery)."""
    from sparsecli.commands import commands

    owners = [c.name for c in commands().values() if c is not command and name in {f.name for f in _fields(c.schema)}]
    if not owners:
        return None
    return ConfigError(
        f"is a setting of {' and '.join(f'`sparse {o}`' for o in owners)}, not of `sparse {command.name}`",
        where=name,
        fix=f"drop it (`sparse {command.name} --help` lists this command's settings)",
    )


def _choose(command: Command, group: str) -> str:
    """The options of `group` this command takes (data holds IR and rec datasets; presets
    are made for one command or another)."""
    fitting = options_for(command, group)
    if fitting:
        return f"choose one of: {', '.join(sorted(fitting))}"
    return f"none ships for `sparse {command.name}`: write your own in ./conf/{group}/"


def _is_glob(override: Any) -> bool:
    """A glob(...) sweep: Hydra's sweeper runs every option of the group it matches."""
    from hydra.core.override_parser.types import Glob

    return isinstance(override.value(), Glob)


def _jobs(parsed: list) -> Iterator[list[str]]:
    """The override lists to check: one per value of each sweep (not their product), the
    other sweeps at their first value. Globs and intervals are left to the sweeper."""
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            if _is_glob(override) or not (override.is_choice_sweep() or override.is_range_sweep()):
                continue
            choices.append([f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    firsts = [values[0] for values in choices]
    yield firsts
    for i, values in enumerate(choices):
        for value in values[1:]:
            yield [*firsts[:i], value, *firsts[i + 1 :]]


def _added_keys_exist(cfg: Any, parsed: list, command: Command) -> None:
    """`+key=value` adds a key; one the schema does not know would be silently ignored."""
    from omegaconf import OmegaConf

    groups = groups_of(command)
    for override in parsed:
        key = override.key_or_group
        if not (override.is_add() or override.is_force_add()) or key.startswith("hydra") or key in groups:
            continue
        parent, _, name = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        object_type = OmegaConf.get_type(node) if node is not None else None
        if name not in {f.name for f in _fields(object_type)}:
            raise unknown_key(key, object_type, groups)


def check_flags(flags: set[str], parsed: list) -> None:
    """Combinations of flags and overrides that Hydra rejects with a traceback or a page."""
    multirun = bool(flags & {"-m", "--multirun"})
    if multirun and flags & {"--cfg", "-c"}:
        raise ConfigError(
            "--cfg shows one job's config, -m runs a sweep", where="command line", fix="drop -m to see a config"
        )
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    if sweeps and not multirun:
        raise ConfigError(
            f"{sweeps[0]} lists several values",
            where="command line",
            fix="add -m to run one job per value, or give a list: key=[a,b] (quote the argument)",
        )


def _built_unless_missing(cfg: Any) -> None:
    """Build the config as a run would, so that `--cfg job` refuses the values a run refuses
    (ranges, combinations); a value left missing is what --cfg may show, and stops the check."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    try:
        OmegaConf.to_object(cfg)
    except Exception as err:
        if not any(isinstance(e, MissingMandatoryValue) for e in (err, err.__cause__, err.__context__)):
            raise


def _unchosen(command: Command, job: list[str], cfg: Any) -> ConfigError | None:
    """Settings given for a group no option of which is chosen (`sparsity.sparsity=0.7` in
    train-rec, dense by default; or a preset's `sparsity: {sparsity: 0.7}`): they would fill the
    group's base class, which no code runs. `cfg`: the composed job, or None where composing
    failed on such settings (OmegaConf asserts)."""
    from omegaconf import OmegaConf

    chosen = {o.lstrip("+~").partition("=")[0] for o in job if "." not in o.partition("=")[0]}
    for group in sorted(groups_of(command) - {PRESETS}):
        given = [o for o in job if o.lstrip("+~").startswith(f"{group}.")]
        if cfg is not None:  # an option names itself; the group's base class is "?"
            if OmegaConf.select(cfg, f"{group}.name", default=None, throw_on_missing=False) != "?":
                continue
        elif not given or group in chosen:
            continue
        setting = f"{given[0].lstrip('+~').partition('=')[0]} is set" if given else f"a preset sets {group} settings"
        options = sorted(options_for(command, group) or [])
        example = " ".join([f"{group}={options[0] if options else '<option>'}", *given[:1]])
        listing = f" (options: {', '.join(options)})" if options else ""
        return ConfigError(
            f"{setting}, but no {group} option is chosen",
            where=group,
            fix=f"choose one as well, e.g. {example}{listing}",
        )
    return None


def check_conf_env() -> None:
    """Every folder $SPARSECLI_CONF lists exists: a misspelt one would leave its presets and
    collections silently unknown ("unknown option" for a file the user can see)."""
    import os

    for entry in os.environ.get(CONF_ENV, "").split(os.pathsep):
        if entry and not Path(entry).is_dir():
            raise ConfigError(
                f"{entry} is not a folder",
                where=f"${CONF_ENV}",
                fix=f"create it, or set {CONF_ENV} to folders of configs (separated by {os.pathsep!r})",
            )


def make_runs_folder(runs_root: str, command: str) -> None:
    """<runs_root>/<command>/ exists: Hydra makes the run directory in it before anything of
    ours runs, so a runs_root that cannot hold it is reported here."""
    path = Path(runs_root).expanduser() / command
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"cannot make run directories in {path} ({err.strerror})",
            where="runs_root",
            fix="pass runs_root=<a writable folder> (or set SPARSECLI_RUNS)",
        ) from None


def check_upstream(command: Command, conf: Any, overrides: Sequence[str] = ()) -> None:
    """Every run a job reads exists, is complete and is of the right command."""
    from sparsecli.runs.rundir import open_upstream

    for name, field in command.upstream().items():
        references = getattr(conf, name)
        references = references if isinstance(references, list) else [references]
        if not references:
            raise ConfigError("is an empty list", where=name, fix=f"give at least one run: {name}=[<dir>,<dir>]")
        for reference in references:
            if reference is None or not str(reference).strip():
                raise missing_value(name, command, overrides)
            if field.metadata["files"] and Path(str(reference)).is_file():
                continue  # a TREC run file
            open_upstream(
                str(reference),
                name,
                field.metadata["upstream"],
                field.metadata["files"],
                field.metadata.get("also", ()),
            )


def check(command: Command, argv: list[str]) -> None:
    """Compose and check every job of the command line; raise a SparseError on the first fault."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from sparsecli.runs.keys import run_key

    overrides, flag_tokens = split(argv)
    check_flag_tokens(flag_tokens)
    flags = set(flag_tokens)
    for flag in sorted(flags & set(_UNSUPPORTED)):
        raise ConfigError(f"{flag} is not supported", where="command line", fix=_UNSUPPORTED[flag])
    if flags & (_INFO_FLAGS - _HELP_FLAGS):
        return
    check_conf_env()
    try:
        parsed = _parse(overrides)
    except HydraException as err:
        raise explain(err, command, overrides) from None
    check_flags(flags, parsed)
    for override in parsed:
        if override.key_or_group in _KEYED_DIRS:
            raise ConfigError(
                f"{override.key_or_group} is set by sparse: runs go to <runs_root>/<command>/<key>, where a rerun "
                "finds them",
                where=f"override '{override.input_line}'",
                fix="pass runs_root=<folder> (or set SPARSECLI_RUNS) to keep runs elsewhere",
            )
    check_names(command, parsed)
    intervals = [o.input_line for o in parsed if o.is_sweep_override() and o.is_interval_sweep()]
    if intervals and not any(o.key_or_group == "hydra/sweeper" for o in parsed):
        raise ConfigError(
            f"the basic sweeper cannot sample {intervals[0]}",
            where="command line",
            fix="sweep a list (k=1,2,3) or a range (k=range(1,4)), or choose a sweeper that samples, "
            "e.g. hydra/sweeper=optuna",
        )
    printing = bool(flags & ({"--cfg", "-c"} | _HELP_FLAGS))  # --help composes the config it shows
    seen = set()
    with initialize_config_module(config_module="sparsecli.conf", version_base="1.3"):
        for job in itertools.islice(_jobs(parsed), _SWEEPS_TO_CHECK):
            if tuple(job) in seen:
                continue
            seen.add(tuple(job))
            try:
                cfg = compose(config_name=command.name, overrides=job)
                _added_keys_exist(cfg, _parse(job), command)
                unchosen = _unchosen(command, job, cfg)
                if unchosen is not None:
                    raise unchosen
                if printing:  # --cfg shows a config with its missing values; nothing runs
                    if "--resolve" in flags:  # Hydra would print a traceback for a bad ${...}
                        OmegaConf.to_container(cfg, resolve=True)
                    if flags & {"--cfg", "-c"}:  # --help's stand-in choices are not the user's
                        _built_unless_missing(cfg)
                    continue
                conf = OmegaConf.to_object(cfg)
            except SparseError:
                raise
            except AssertionError as err:  # OmegaConf's, for `group.key=v` where the group is null
                raise _unchosen(command, job, None) or explain(err, command, job) from None
            except Exception as err:
                raise explain(err, command, job) from None
            check_upstream(command, conf, job)
            if command.check is not None:
                command.check(conf)
            run_key(command, conf)  # reads the inputs: a missing file is reported now
            make_runs_folder(conf.runs_root, command.name)
