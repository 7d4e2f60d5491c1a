"""`sparse`: the command-line entry point.

    sparse encode data=scifact encoder=bm25          # -> runs/encode/<key>
    sparse index encode_run=runs/encode/<key>         # -> runs/index/<key>
    sparse search index_run=runs/index/<key>          # -> runs/search/<key>/run.trec
    sparse eval search_run=runs/search/<key>          # -> runs/eval/<key>/metrics.json

Everything after the command is a Hydra override; `sparse <command> --help` lists the
config groups. Heavy libraries are imported only inside commands, so `sparse --help` is instant.
"""

from __future__ import annotations

from typing import List, Optional

import typer

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
    from sparsecli.hydra_app import available_options

    group, sep, prefix = incomplete.partition("=")
    if not sep:
        return []
    return [f"{group}={option}" for option in sorted(available_options(group) or ()) if option.startswith(prefix)]


Overrides = typer.Argument(None, help="Hydra overrides", autocompletion=complete_overrides, show_default=False)


def _run(command: str, overrides: Optional[List[str]]) -> None:
    from sparsecli.hydra_app import run

    run(command, list(overrides or []))


@app.command(**HYDRA_ARGS)
def encode(overrides: Optional[List[str]] = Overrides) -> None:
    """Encode a collection's documents and queries into sparse vectors (data=, encoder=)."""
    _run("encode", overrides)


@app.command(**HYDRA_ARGS)
def index(overrides: Optional[List[str]] = Overrides) -> None:
    """Build an index over an encode run's documents (encode_run=, index=)."""
    _run("index", overrides)


@app.command(**HYDRA_ARGS)
def search(overrides: Optional[List[str]] = Overrides) -> None:
    """Rank documents for the encoded queries and write a TREC run (index_run=, search=)."""
    _run("search", overrides)


@app.command("eval", **HYDRA_ARGS)
def evaluate(overrides: Optional[List[str]] = Overrides) -> None:
    """Score one or more search runs with ir-measures, with paired significance tests (search_run=)."""
    _run("eval", overrides)


@app.command()
def version() -> None:
    """Print the sparsecli version."""
    from sparsecli import __version__

    typer.echo(__version__)


def main() -> None:
    app()
