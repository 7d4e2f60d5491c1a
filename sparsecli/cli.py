"""`sparse`: the command-line entry point.

    sparse encode data=scifact encoder=bm25          # -> runs/encode/<key>
    sparse index encode_run=runs/encode/<key>         # -> runs/index/<key>
    sparse search index_run=runs/index/<key>          # -> runs/search/<key>/run.trec
    sparse eval search_run=runs/search/<key>          # -> runs/eval/<key>/metrics.json

Everything after the command is a Hydra override; `sparse <command> --help` lists the
config groups. The commands come from the registry (sparsecli/commands/), whose modules
import only config classes, so `sparse --help` is instant.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from sparsecli.commands import Command, commands

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Reproducible experiments with sparse retrieval: encode -> index -> search -> eval.\n\n"
    "Every argument after the command is a Hydra override (key=value, group=option, -m for sweeps). "
    "Each run writes runs/<command>/<key>/ and prints that directory as the last line on stdout.",
)

HYDRA_ARGS = dict(
    add_help_option=False,  # --help goes to Hydra, which lists the config groups
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)


def complete_overrides(incomplete: str) -> list[str]:
    from sparsecli.runs.groups import available_options

    group, sep, prefix = incomplete.partition("=")
    if not sep:
        return []
    return [f"{group}={option}" for option in sorted(available_options(group) or ()) if option.startswith(prefix)]


def _version(value: bool) -> None:
    if value:
        from sparsecli import __version__

        typer.echo(f"sparsecli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the sparsecli version and exit."
    ),
) -> None:
    """Reproducible experiments with sparse retrieval: encode -> index -> search -> eval."""


def _add(command: Command) -> None:
    def run(
        overrides: Optional[List[str]] = typer.Argument(
            None, help="Hydra overrides", autocompletion=complete_overrides, show_default=False
        ),
    ) -> None:
        from sparsecli.runs.bridge import run as run_command

        run_command(command.name, list(overrides or []))

    app.command(command.name, help=command.help, **HYDRA_ARGS)(run)


for _command in commands().values():
    _add(_command)
