"""Keep freed memory in the process (glibc malloc), so CPU training steps stop page-faulting.

A training step frees and allocates the same few hundred MiB every step (activations, autocast
weight copies, gradients). glibc serves blocks above a dynamic threshold (128 KiB to 32 MiB)
from fresh ``mmap`` pages and returns freed heap tops to the kernel, so each step touches new
pages again: 30k-90k minor page faults per BEiT v2 ViT-B step at batch 4 on a 2-core VM, about
0.1-0.3 s of a 1.1 s step (``benchmarks/README.md``). With the heap kept (what PyTorch's CPU
tuning guides get from jemalloc / tcmalloc), the same blocks are reused: 0 faults per step.

Costs: memory freed in the process stays mapped to it (the peak RSS is what it was; tested).
Set ``MMBEIT_MALLOC_TUNING=0`` to leave malloc as it is.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
ENV_SWITCH = 'MMBEIT_MALLOC_TUNING'


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30,
                      top_pad: int = 64 << 20) -> bool:
    """Tune this process's glibc malloc for training loops (module docstring).

    Args:
        mmap_threshold (int): blocks from this size on get their own ``mmap`` (glibc's
            ceiling on 64-bit, 32 MiB); smaller ones come from the reused heap.
        trim_threshold (int): free memory at the heap top kept before returning it.
        top_pad (int): extra bytes requested each time the heap grows.

    Returns:
        bool: True when applied; False without glibc (macOS, musl) or with
        ``MMBEIT_MALLOC_TUNING=0``.
    """
    if os.environ.get(ENV_SWITCH, '1') == '0':
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # mmap threshold first: setting either fixes both (no more dynamic adjustment)
    return all(mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, mmap_threshold), (M_TRIM_THRESHOLD, trim_threshold),
        (M_TOP_PAD, top_pad)))
