"""Retrieval over an index: top-k documents per query."""

# Here rather than in exact.py, so that config validation needs no numpy import.
EXACT_ALGORITHMS = ("taat", "maxscore")
