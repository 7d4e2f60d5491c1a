"""sparsecli: a command-line experiment runner for sparse methods in retrieval and recommendation."""

import os

__version__ = "0.1.0"

# numba's default OpenMP thread pool turns on nested OpenMP parallelism for the whole
# process, which changes how torch's MKL splits its matrix products: SPLADE vectors then
# differ in their last bits depending on whether a numba kernel ran first (in a sweep, or
# after BM25). numba's own pool, workqueue, leaves OpenMP alone. Set before numba is imported.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")


def main() -> None:
    """The `sparse` entry point (sparsecli/cli.py), imported here so that even a Ctrl-C
    while it loads ends in one line."""
    try:
        from sparsecli.cli import app

        app()
    except KeyboardInterrupt:  # before a command could report it
        import sys

        sys.stderr.write("interrupted; nothing was kept\n")
        raise SystemExit(130) from None
