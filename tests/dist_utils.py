"""Run a function in N processes joined by a gloo process group (CPU)."""
from __future__ import annotations

import os
import socket
from typing import Any, Callable

import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable, args: tuple,
            result_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        import torch

        out = fn(rank, world_size, *args)
        torch.save(out, os.path.join(result_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def run_distributed(fn: Callable[..., Any], world_size: int, tmp_path, *args) -> list:
    """Call ``fn(rank, world_size, *args)`` on ``world_size`` gloo ranks; return each result.

    ``fn`` must be a module-level function (it is pickled to the workers) and its return value
    is saved with ``torch.save`` (tensors, dicts, lists).
    """
    import torch

    mp.spawn(_worker, args=(world_size, free_port(), fn, args, str(tmp_path)),
             nprocs=world_size, join=True)
    return [torch.load(os.path.join(tmp_path, f'rank{r}.pt'), weights_only=False)
            for r in range(world_size)]
