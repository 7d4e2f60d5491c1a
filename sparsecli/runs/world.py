"""Processes started by torchrun: which one this is, and what they agree on.

    torchrun --standalone --nproc_per_node=2 -m sparsecli train-rec data=ml-100k model=sasrec ...
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=$HEAD:29500 \
        -m sparsecli encode data=msmarco-passage encoder=splade ...

torchrun (torch.distributed.run) starts the same command line in every process and sets
RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE. Every rank composes the same config, so
it computes the same run key and run directory. Rank 0 leads: it holds the run's lock,
decides whether the run is a cache hit, writes every artifact and prints the run directory;
the other ranks follow its decision and write only their own log file. A rank that dies
makes torchrun stop the others (SIGTERM: an interruption, whose finished work is kept), so
a rerun resumes as after Ctrl-C.

Communication is torch.distributed: gloo for CPU tensors, NCCL for CUDA ones when there is a GPU.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import NamedTuple

# A follower waits at the leader's decision while the leader may wait for another process's
# lock (a launcher job with the same key): gloo's default 30 minutes would end it too early.
TIMEOUT = timedelta(hours=24)


class World(NamedTuple):
    rank: int  # 0 .. size - 1; rank 0 leads
    size: int  # processes in all (torchrun's WORLD_SIZE)
    local_rank: int  # this process's number on its machine: its GPU
    local_size: int  # processes on this machine, sharing its cores

    @property
    def leader(self) -> bool:
        return self.rank == 0


ALONE = World(0, 1, 0, 1)


def current() -> World:
    """This process's place among torchrun's processes; ALONE when torchrun did not start it."""
    size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if size <= 1:
        return ALONE
    local_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(size)))
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")), local_size)


def cores() -> int:
    """The cores this process may run on (a SLURM allocation's, not the node's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def start(world: World) -> None:
    """Join the process group (environment rendezvous, as torchrun sets it); idempotent."""
    import torch
    import torch.distributed as dist

    if world.size == 1 or dist.is_initialized():
        return
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(world.local_rank % torch.cuda.device_count())
    dist.init_process_group(backend, rank=world.rank, world_size=world.size, timeout=TIMEOUT)


def stop() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast(values: list[int]) -> list[int]:
    """Rank 0's integers, on every rank (each rank passes a list of the same length)."""
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.int64)
    dist.broadcast(tensor, src=0)
    return tensor.tolist()


def broadcast_list(values: list[int]) -> list[int]:
    """Rank 0's list of integers, of any length, on every rank (others pass anything)."""
    (length,) = broadcast([len(values)])
    return broadcast(list(values) if len(values) == length else [0] * length) if length else []


def lost_peer(err: BaseException) -> bool:
    """Whether `err` is a collective that failed because another rank is gone (gloo's
    "Connection reset by peer" or "closed"): that rank's own line says why."""
    return isinstance(err, RuntimeError) and any(
        words in str(err) for words in ("Connection reset by peer", "Connection closed by peer")
    )


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


def total(value: float) -> float:
    """The sum of `value` over the ranks, on every rank (float64)."""
    import torch
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item())
