"""Document shards encoded by Ray actors (`runtime.backend=ray`).

    pip install 'sparsecli[ray]'
    RAY_ADDRESS=<head>:6379 sparse encode data=msmarco-passage encoder=splade runtime.backend=ray runtime.workers=8

The missing shards go to a pool of runtime.workers actors (ray.util.ActorPool; one GPU each
where the cluster has GPUs), each taking the next shard as it comes free; each actor loads
the model once and writes whole shards into the run's work folder, which must be on storage
every node sees. A shard's bytes depend on its documents and the threads per actor alone
(shards.py), so the merged vectors are those of one process, and a shard lost with its
actor is encoded again by the rerun, like any missing shard.

Ray core's actor pool, not Ray Data's map_batches: for a list of shard numbers a dataset adds
nothing, and its resource manager left the actors unscheduled on a 2-core machine (the
pipeline stalled for minutes; ray-project/ray#44687).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


class ShardEncoder:
    """A Ray actor: the document side built once, then whole shards encoded."""

    def __init__(self, config, workdir: str, docs_per_shard: int, n_cols: int, threads: int, seed: int):
        import torch

        from sparsecli.encode.lsr.encoder import document_side
        from sparsecli.encode.lsr.shards import ShardStore

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.store = ShardStore(Path(workdir), docs_per_shard)
        self.tokens = self.store.load_tokens()
        self.side = document_side(config, self.tokens, n_cols)
        self.batch_size, self.n_cols = config.batch_size, n_cols

    def encode(self, index: int) -> int:
        from sparsecli.encode.lsr.workers import encode_shards

        encode_shards(self.side, self.tokens, self.store, self.batch_size, self.n_cols, (index,),
                      lambda n: None, lambda: None)  # fmt: skip
        return index


def encode(config, workdir: Path, docs_per_shard: int, n_cols: int, missing: list[int], workers: int,
           threads: int, seed: int, advance: Callable[[int], None]) -> None:  # fmt: skip
    """Encode the `missing` shards with `workers` actors; advance(i) as shard i is written
    (`sparse encode` checks first that Ray is installed)."""
    import ray
    from ray.util import ActorPool

    started = not ray.is_initialized()
    if started:  # the cluster RAY_ADDRESS names, or a local one
        import os

        from sparsecli.runs.world import cores

        # a local cluster: logical CPUs for every actor asked for, so none waits for a slot
        local = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": max(cores(), workers * threads)}
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False, **local)
    try:
        from sparsecli.encode.lsr.workers import may_use_gpu

        # a GPU an actor where the config allows one and the cluster has them
        available = int(ray.cluster_resources().get("GPU", 0)) if may_use_gpu(config) else 0
        if available and workers > available:  # actors beyond the GPUs would wait for one forever
            log.warning("runtime.workers=%d: the Ray cluster has %d GPUs, so %d actors", workers, available, available)
            workers = available
        gpus = 1.0 if available else 0.0
        log.info("%d shards to encode by %d Ray actors, %d threads%s each", len(missing), workers, threads,
                 " and a GPU" if gpus else "")  # fmt: skip
        actor = ray.remote(num_cpus=threads, num_gpus=gpus)(ShardEncoder)
        pool = ActorPool(
            [actor.remote(config, str(workdir), docs_per_shard, n_cols, threads, seed) for _ in range(workers)]
        )
        for index in pool.map_unordered(lambda encoder, index: encoder.encode.remote(index), missing):
            advance(index)
    finally:
        if started:
            ray.shutdown()
