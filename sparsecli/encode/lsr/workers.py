"""Document shards encoded by several processes on one machine (`runtime.workers=N`).

The missing shards are dealt out in index order (longest documents first): the k-th missing
shard goes to worker k mod W, W = min(N, missing shards). Worker 0 is the `sparse encode`
process itself; the others are spawned processes that load the same model and read the
token table pass 1 left in the work folder. A shard's rows depend on its batches alone
(shards.py), and every worker runs the same number of threads, so the merged vectors are
byte-identical for any N. A worker that dies loses only the shard it was writing (shards are
renamed into place when whole); the run then fails in one line, and a rerun encodes only
the shards that are missing.

Processes, not threads: the model's forward pass holds the GIL between kernels, and one
process per worker is also how a machine with several GPUs is split (worker w on cuda:w).
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the parent looks for the other workers' finished shards


class Job(NamedTuple):
    """What a spawned worker needs: no callables, so it crosses a process boundary."""

    config: object  # LSRConfig
    workdir: Path
    docs_per_shard: int
    n_cols: int
    rank: int
    shards: tuple  # the shard indices this worker encodes
    threads: int
    seed: int


def deal(missing: list[int], workers: int) -> list[tuple]:
    """Worker w's shards: missing[w::W] for W = min(workers, len(missing)) (at least 1)."""
    count = max(1, min(workers, len(missing)))
    return [tuple(missing[w::count]) for w in range(count)]


def encode_shards(side, tokens, store, batch_size: int, n_cols: int, shards: tuple,
                  advance: Callable[[int], None], finished: Callable[[], None]) -> None:  # fmt: skip
    """Encode `shards` (indices) in order, each written whole under its final name."""
    from sparsecli.encode.lsr.encoder import shard_rows

    order = tokens.length_order()
    per_shard = store.docs_per_shard
    for index in shards:
        positions = order[index * per_shard : (index + 1) * per_shard]
        store.write(index, positions, shard_rows(side, tokens, positions, batch_size, n_cols, advance))
        finished()


def may_use_gpu(config) -> bool:
    """The encoder's config allows a GPU (device auto or cuda; BM25 has no device)."""
    return getattr(getattr(config, "device", None), "value", "auto") in ("auto", "cuda")


def _device(config, rank: int) -> None:
    """Worker w on cuda:w when the config allows a GPU and the machine has several."""
    import torch

    if may_use_gpu(config) and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(rank % torch.cuda.device_count())


def _work(job: Job) -> None:
    import torch

    from sparsecli.encode.lsr.encoder import document_side
    from sparsecli.encode.lsr.shards import ShardStore

    torch.set_num_threads(job.threads)
    torch.manual_seed(job.seed)
    _device(job.config, job.rank)
    store = ShardStore(job.workdir, job.docs_per_shard)
    tokens = store.load_tokens()
    side = document_side(job.config, tokens, job.n_cols)
    encode_shards(side, tokens, store, job.config.batch_size, job.n_cols, job.shards, lambda n: None, lambda: None)


def _main(job: Job) -> None:
    """A spawned worker's entry: one line on stderr and exit status 1 on failure, no traceback.
    Ctrl-C reaches the whole process group; the parent ends its workers itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _work(job)
    except Exception as error:  # noqa: BLE001 - the parent reports it in one line
        first = str(error).splitlines()[0] if str(error) else ""
        sys.stderr.write(f"error: encode worker {job.rank}: {type(error).__name__}: {first}\n")
        sys.exit(1)


def start(jobs: list[Job]) -> list:
    """Spawn one process per job (spawn, not fork: torch's threads do not survive a fork)."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_main, args=(job,), name=f"sparse-encode-{job.rank}") for job in jobs]
    for process in processes:
        process.start()
    return processes


def stop(processes: list) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def wait(processes: list, store, n_shards: int, shard_sizes: np.ndarray, advance: Callable[[int], None],
         seen: set) -> None:  # fmt: skip
    """Wait for the spawned workers, advancing the progress by the shards they finish.

    Raises SparseError (exit status 1) naming the first worker that failed (its exit status;
    -9 is SIGKILL), once the others have finished their shards, which are kept for the rerun."""
    while True:
        running = any(p.is_alive() for p in processes)
        for index in range(n_shards):  # after is_alive: a worker's last shard is counted
            if index not in seen and store.has(index):
                seen.add(index)
                advance(int(shard_sizes[index]))
        if not running:
            break
        time.sleep(POLL_S)
    failed = [p for p in processes if p.exitcode != 0]
    if failed:
        from sparsecli.errors import SparseError

        raise SparseError(
            f"encode worker {failed[0].name.rsplit('-', 1)[1]} exited with status {failed[0].exitcode}; "
            f"{store.finished(n_shards)} of {n_shards} shards are kept",
            where="runtime.workers",
            fix="rerun the same command: only the missing shards are encoded",
        )
