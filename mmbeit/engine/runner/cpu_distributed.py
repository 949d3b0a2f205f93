"""Distributed data parallel on CPU processes (gloo), e.g. ``torchrun`` on a machine without GPUs.

MMEngine's pytorch launcher calls ``torch.cuda.set_device`` and its runner passes
``device_ids=[LOCAL_RANK]`` to DDP; both fail without a GPU. ``tools/train.py`` therefore starts
the gloo process group itself and wraps the model with :class:`CPUDistributedDataParallel`.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from mmengine.model import MMDistributedDataParallel

from mmbeit.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU modules: ``device_ids`` must be None there."""

    def __init__(self, module: torch.nn.Module, device_ids=None, **kwargs) -> None:
        super().__init__(module=module, device_ids=None, **kwargs)


def init_cpu_process_group(launcher: str) -> bool:
    """Start a gloo group from torchrun's environment when there is no GPU.

    Returns:
        True if a group was started (the caller should then use CPUDistributedDataParallel).
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return False
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise RuntimeError('--launcher pytorch needs RANK / WORLD_SIZE / MASTER_ADDR / '
                           'MASTER_PORT in the environment: start it with torchrun or '
                           'tools/dist_train.sh')
    dist.init_process_group(backend='gloo')
    return True


def close_process_group() -> None:
    """End a finished distributed run: barrier, then ``destroy_process_group``.

    Left to interpreter shutdown, gloo's group can be torn down while its threads still run
    (``terminate called without an active exception``, SIGABRT, a failed launcher exit code
    after a completed run); torch asks for an explicit destroy anyway. No-op in one process.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
