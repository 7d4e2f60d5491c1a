"""sparsecli: a command-line experiment runner for sparse methods in retrieval and recommendation."""

__version__ = "0.1.0"
