"""Sparse recommendation (the `train-rec` command, next): readers for interaction data, splits,
sequential models and full-ranking evaluation. Empty until that command lands."""
