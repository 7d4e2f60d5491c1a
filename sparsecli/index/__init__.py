"""Indexes over encoded documents: build, save, and load memory-mapped with integrity checks."""
