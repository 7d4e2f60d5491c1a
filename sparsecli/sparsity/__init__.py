"""Masks and schedules shared by `prune` and `train-rec` (next): criteria (magnitude, random,
Wanda, SparseGPT), structures (unstructured, N:M, blocks) and one-shot, gradual and dynamic
schedules. Empty until the `prune` command lands."""
