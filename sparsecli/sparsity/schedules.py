"""How much to prune, and when: the sparsity targets of gradual pruning and the update
fraction of dynamic sparse training. Pure functions of the step; float64.

Gradual (Zhu & Gupta, "To prune, or not to prune", arXiv:1710.01878, Eq. 1):

    s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^e,   t in {t0, t0 + dt, ..., t0 + n dt}

with e = 3 (cubic, the paper's), 1 (linear) or any exponent (polynomial). Masks change only at
those update steps, and between them the last value holds: the first update (t = t0) keeps
s_i and the last (t = t0 + n dt = end) reaches s_f exactly; before t0 nothing is pruned
beyond s_i, after the end s_f holds. The names are SparseML's and llm-compressor's:
init_sparsity, final_sparsity, start, end, update_frequency (end - start must be a multiple
of update_frequency, so that the last update lands on `end`).

Iterative magnitude pruning (Frankle & Carbin, ICLR 2019): R rounds, each pruning the same
fraction of the weights still kept, so after round r of R

    s_r = 1 - (1 - s_f)^(r / R)

Dynamic (RigL, Evci et al., ICML 2020, Eq. 1): the fraction of each layer's active weights
dropped and regrown at an update, annealed by a cosine,

    f(t) = alpha / 2 (1 + cos(pi t / T_end)),   0 from T_end on.
"""

from __future__ import annotations

import math


def update_steps(start: int, end: int, update_frequency: int) -> range:
    """The steps at which a gradual schedule changes the masks: start, start + dt, ..., end.

    Raises ValueError unless 0 <= start <= end, dt >= 1 and dt divides end - start."""
    if not (0 <= start <= end) or update_frequency < 1 or (end - start) % update_frequency:
        raise ValueError(
            f"start={start}, end={end}, update_frequency={update_frequency}: need 0 <= start <= end "
            "and end - start a multiple of update_frequency"
        )
    return range(start, end + 1, update_frequency)


def gradual(
    step: int,
    init_sparsity: float,
    final_sparsity: float,
    start: int,
    end: int,
    update_frequency: int,
    exponent: float = 3.0,
) -> float:
    """The sparsity in force at `step` (after that step's update, if it is one): Zhu & Gupta's
    polynomial schedule held between updates. exponent 3 = cubic, 1 = linear."""
    updates = update_steps(start, end, update_frequency)
    if step < start:
        return init_sparsity
    if step >= end or start == end:
        return final_sparsity
    done = (step - start) // update_frequency  # the last update at or before `step`
    total = len(updates) - 1
    return final_sparsity + (init_sparsity - final_sparsity) * (1.0 - done / total) ** exponent


def drop_fraction(step: int, alpha: float, end: int) -> float:
    """RigL's cosine-annealed update fraction at `step`: alpha/2 (1 + cos(pi step / end)), 0 from
    `end` on (masks then stay fixed)."""
    if step >= end:
        return 0.0
    return alpha / 2.0 * (1.0 + math.cos(math.pi * step / end))


def iterative(final_sparsity: float, rounds: int, round_steps: int) -> dict[int, float]:
    """{step: sparsity} of iterative magnitude pruning: round r (1..rounds) prunes at step
    r * round_steps to 1 - (1 - final_sparsity)^(r / rounds); the last reaches final_sparsity.

    Raises ValueError unless rounds, round_steps >= 1 and 0 <= final_sparsity < 1."""
    if rounds < 1 or round_steps < 1 or not 0 <= final_sparsity < 1:
        raise ValueError(f"rounds={rounds}, round_steps={round_steps}, final_sparsity={final_sparsity}")
    levels = {r * round_steps: 1.0 - (1.0 - final_sparsity) ** (r / rounds) for r in range(1, rounds + 1)}
    levels[rounds * round_steps] = final_sparsity  # exactly, not 1 - (1 - s)^1 in floating point
    return levels
