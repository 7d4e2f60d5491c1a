"""Encoders: documents and queries to sparse vectors over a vocabulary."""
