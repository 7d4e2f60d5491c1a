"""Numba kernels: the hot loops, kept apart from the Python that calls them."""

from __future__ import annotations

import numpy as np


def thread_count(threads: int) -> int:
    """The worker threads `runtime.threads` means here: 0 = all cores, at most all cores."""
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    return available if threads <= 0 else min(threads, available)


def set_threads(threads: int) -> int:
    """Use `threads` worker threads for parallel kernels (0 = all cores); returns the count."""
    import numba

    count = thread_count(threads)
    numba.set_num_threads(count)
    return count


def frozen(array: np.ndarray) -> np.ndarray:
    """A read-only view of `array`, no copy. Numba compiles a kernel once per argument type, and
    writability is part of the type: kernels take index and collection arrays frozen, so an
    index built in memory and one memory-mapped from disk share one compiled kernel."""
    view = array.view()
    view.flags.writeable = False
    return view
