"""Numba kernels: the hot loops, kept apart from the Python that calls them."""

from __future__ import annotations

import os


def set_threads(threads: int) -> int:
    """Use `threads` worker threads for parallel kernels (0 = all cores); returns the count."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    count = available if threads <= 0 else min(threads, available)
    numba.set_num_threads(count)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(available))
    return count
