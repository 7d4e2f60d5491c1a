"""Retrieval over an index: top-k documents per query."""
