"""Masks and schedules shared by `sparse prune` and (next) `sparse train-rec`: pure,
Hydra-free functions over weights and scores. config.py is the `sparsity` group; engine.py
prunes a model once; the rest are small modules with one job each (criteria, sparsegpt, dsnot,
structure, heads, allocation, schedules, dynamic, masks, layers, recovery, csr)."""
