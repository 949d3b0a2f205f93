"""Whether bf16 autocast pays on this CPU: bf16 matmuls run in hardware only with AMX-BF16 or
AVX512-BF16; elsewhere (AVX2, AVX512 without BF16) oneDNN emulates them and a bf16 training
step runs many times slower than fp32 (measured ~19x for the MoCo v3 demo on an AVX2 EPYC).
"""
from __future__ import annotations

import os
import platform
from functools import cache
from typing import FrozenSet, Tuple

#: oneDNN ISA caps (``ONEDNN_MAX_CPU_ISA``) that still include bf16 matmul instructions
_BF16_ISAS = ('AVX512_CORE_BF16', 'AVX512_CORE_FP16', 'AVX512_CORE_AMX', 'AVX10', 'ALL',
              'DEFAULT')

PRECISIONS = ('auto', 'fp32', 'bf16')


def _cpu_flags() -> FrozenSet[str]:
    """The flags of the first processor in ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


@cache
def cpu_bf16_is_fast() -> Tuple[bool, str]:
    """``(fast, reason)``: does this CPU run bf16 matmuls in hardware?

    True with AMX-BF16 or AVX512-BF16 (unless ``ONEDNN_MAX_CPU_ISA`` caps oneDNN below them),
    and on arm64 with BF16 (``bf16`` flag); the reason names what was found.
    """
    flags = _cpu_flags()
    cap = os.environ.get('ONEDNN_MAX_CPU_ISA', '').upper()
    if cap and not cap.startswith(_BF16_ISAS):
        return False, f'ONEDNN_MAX_CPU_ISA={cap} caps oneDNN below its bf16 instructions'
    for flag, name in (('amx_bf16', 'AMX-BF16'), ('avx512_bf16', 'AVX512-BF16')):
        if flag in flags:
            return True, f'the CPU has {name}'
    if platform.machine() in ('aarch64', 'arm64') and 'bf16' in flags:
        return True, 'the CPU has BF16 (Arm)'
    return False, ('the CPU has neither AMX-BF16 nor AVX512-BF16: bf16 matmuls are emulated '
                   'there and run many times slower than fp32')


def cpu_autocast_enabled(precision: str = 'auto') -> Tuple[bool, str]:
    """``(enabled, reason)`` of bf16 autocast on CPU for ``precision`` in :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision != 'auto':
        return precision == 'bf16', f'precision={precision!r} asked for'
    return cpu_bf16_is_fast()
