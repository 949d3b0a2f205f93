"""What the training-step benchmarks share: timing, alternation, memory probes, common flags."""
from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Sequence

import torch
from mmengine.logging import MMLogger
from torch.utils.flop_counter import FlopCounterMode

ADAMW_IMPL = {'foreach': dict(foreach=True), 'fused': dict(fused=True), 'loop': {}}


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def quiet_logs() -> None:
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    MMLogger.get_current_instance().setLevel(logging.WARNING)


def peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` (Linux) is reset by exec; ``ru_maxrss`` is not (a
    child started by a big parent would report the parent's peak)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_common_args(parser: argparse.ArgumentParser, batch: int, steps: int) -> None:
    """The flags every step benchmark has (see benchmarks/README.md)."""
    parser.add_argument('--batch', type=int, default=batch)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--steps', type=int, default=steps,
                        help='timed steps per model per round')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--precision', nargs='+', default=['fp32', 'bf16'],
                        choices=['fp32', 'bf16'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    parser.add_argument('--optimizer-impl', default='foreach', choices=list(ADAMW_IMPL),
                        help="torch's AdamW implementation, the same for both models "
                        "(foreach: torch's CUDA default; loop: its CPU default)")
    parser.add_argument('--no-memory', action='store_true', help='skip the CPU RSS probes')
    parser.add_argument('--memory-probe', nargs=2, metavar=('MODEL', 'PREC'),
                        help=argparse.SUPPRESS)


def alternate_steps(names: Sequence[str], run_step: Callable[[str], Dict[str, float]],
                    rounds: int, steps: int) -> Dict[str, List[Dict[str, float]]]:
    """Timed steps, model by model in turn (who goes first flips each round), so that every
    model sees the same machine load."""
    times: Dict[str, List[Dict[str, float]]] = {k: [] for k in names}
    for r in range(rounds):
        order = list(names) if r % 2 == 0 else list(names)[::-1]
        for _ in range(steps):
            for name in order:
                times[name].append(run_step(name))
    return times


def medians(times: Dict[str, List[Dict[str, float]]]) -> Dict[str, Dict[str, float]]:
    """Median ``total`` and ``model`` seconds per model."""
    return {k: {p: statistics.median(t[p] for t in v) for p in ('total', 'model')}
            for k, v in times.items()}


def cpu_peak_rss(script: str, args: argparse.Namespace, name: str, prec: str,
                 extra: Sequence[str] = ()) -> Dict[str, float]:
    """``built`` / ``peak`` RSS (MiB) of a fresh process running ``script --memory-probe``; NaN
    (and a printed reason) when the probe fails, so the timings are still reported."""
    cmd = [sys.executable, script, '--memory-probe', name, prec, '--batch', str(args.batch),
           '--img-size', str(args.img_size), '--warmup', str(args.warmup),
           '--optimizer-impl', args.optimizer_impl, '--device', 'cpu', *extra]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        print(f'  memory probe {name} {prec} failed ({res.returncode}): '
              f'{res.stderr.strip().splitlines()[-1:]}')
        return dict(peak=float('nan'), built=float('nan'))
    return json.loads(res.stdout.strip().splitlines()[-1])


def matmul_peak_flops(dtype: torch.dtype, device: torch.device, size: int = 2048,
                      repeats: int = 8, trials: int = 3) -> float:
    """Best FLOP/s of a square (size x size) @ (size x size) matmul in ``dtype``, measured now
    on this device and thread count: the denominator of MFU."""
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
            for _ in range(2))
    for _ in range(2):
        torch.mm(a, b)
    best = 0.0
    for _ in range(trials):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        sync(device)
        best = max(best, 2.0 * size ** 3 * repeats / (time.perf_counter() - t0))
    return best


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs that torch's ``FlopCounterMode`` attributes to ``fn()`` (matmuls, convolutions,
    attention; forward and backward); elementwise work is not counted."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def mfu(flops_per_step: float, step_seconds: float, peak_flops: float) -> str:
    """``achieved TFLOP/s, MFU %`` of a step against the measured matmul peak."""
    achieved = flops_per_step / step_seconds
    return f'{achieved / 1e12:.3f} TFLOP/s, MFU {100 * achieved / peak_flops:.0f} %'
