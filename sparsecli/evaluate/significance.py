"""Paired significance tests over per-query values of two runs."""

from __future__ import annotations

import numpy as np


def paired_ttest(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if len(a) < 2 or np.allclose(a, b, rtol=0, atol=0):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def paired_randomization(a: np.ndarray, b: np.ndarray, permutations: int, seed: int) -> float:
    """Two-sided Fisher randomization test: flip the sign of each query's difference at random."""
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diffs) == 0 or not diffs.any():
        return 1.0
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed)
    extreme = 0
    batch = max(1, min(permutations, (1 << 24) // len(diffs)))
    for start in range(0, permutations, batch):
        n = min(batch, permutations - start)
        signs = rng.integers(0, 2, size=(n, len(diffs)), dtype=np.int8) * 2 - 1
        extreme += int((np.abs(signs @ diffs) / len(diffs) >= observed - 1e-12).sum())
    return (extreme + 1) / (permutations + 1)


TESTS = {
    "ttest": lambda a, b, permutations, seed: paired_ttest(a, b),
    "randomization": paired_randomization,
}


def compare(
    per_query_base: dict[str, float], per_query_other: dict[str, float], test: str, permutations: int, seed: int
) -> float:
    queries = sorted(per_query_base)
    a = np.array([per_query_base[q] for q in queries])
    b = np.array([per_query_other.get(q, 0.0) for q in queries])
    return TESTS[test](a, b, permutations, seed)
