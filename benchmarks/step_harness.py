"""What the training-step benchmarks share: timing, alternation, memory probes, common flags."""
from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from mmbeit.utils.cpu_malloc import keep_freed_memory
from mmbeit.utils.cpu_precision import cpu_bf16_is_fast

# torch's AdamW implementations, each named in full so that a recipe's own choice (e.g. the
# configs' fused=True) cannot combine with the one asked for
ADAMW_IMPL = {'foreach': dict(foreach=True, fused=False), 'fused': dict(fused=True, foreach=False),
              'loop': dict(foreach=False, fused=False)}


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


def default_precisions() -> List[str]:
    """fp32, plus bf16 where it runs in hardware (any GPU run, CPUs with bf16 matmuls)."""
    if torch.cuda.is_available() or cpu_bf16_is_fast()[0]:
        return ['fp32', 'bf16']
    return ['fp32']


def add_common_args(parser: argparse.ArgumentParser, batch: int, steps: int) -> None:
    """The flags every step benchmark has (see benchmarks/README.md)."""
    parser.add_argument('--batch', type=int, default=batch)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--steps', type=int, default=steps,
                        help='timed steps per model per round')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--precision', nargs='+', default=default_precisions(),
                        choices=['fp32', 'bf16'],
                        help='default: fp32 and bf16 autocast on GPUs and on CPUs with '
                        'AMX-BF16 / AVX512-BF16; fp32 alone on other CPUs (bf16 emulated)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    parser.add_argument('--optimizer-impl', default='foreach', choices=list(ADAMW_IMPL),
                        help="torch's AdamW implementation, the same for both models "
                        "(foreach: torch's CUDA default; loop: its CPU default)")
    parser.add_argument('--no-memory', action='store_true', help='skip the CPU RSS probes')
    parser.add_argument('--memory-probe', nargs=2, metavar=('MODEL', 'PREC'),
                        help=argparse.SUPPRESS)


def build_models(names: Sequence[str], build: Callable[[str], torch.nn.Module],
                 optim_cfg: dict) -> Tuple[Dict[str, torch.nn.Module], Dict[str, Any]]:
    """Each named model (seeded once, built in order) and its MMEngine optimizer wrapper.

    On CPU, malloc keeps freed memory first, as ``tools/train.py`` does (for every model of
    the run alike; ``MMBEIT_MALLOC_TUNING=0`` to compare without).
    """
    from mmengine.optim import build_optim_wrapper

    if not torch.cuda.is_available():
        keep_freed_memory()
    torch.manual_seed(0)
    models = {k: build(k) for k in names}
    optims = {k: build_optim_wrapper(m, optim_cfg) for k, m in models.items()}
    return models, optims


def timed_step(device: torch.device, forward_backward: Callable[[], Any],
               optim) -> Tuple[Dict[str, float], Any]:
    """One training step: ``forward_backward()`` then ``optim.step()`` / ``zero_grad()``.
    Returns its model (forward + backward) and total times (s), and what the forward gave."""
    sync(device)
    t0 = time.perf_counter()
    out = forward_backward()
    sync(device)
    t1 = time.perf_counter()
    optim.step()
    optim.zero_grad()
    sync(device)
    return dict(model=t1 - t0, total=time.perf_counter() - t0), out


def rss_over_steps(step: Callable[[], Any], steps: int) -> Dict[str, float]:
    """Peak RSS (MiB) of this process now (the built model) and after ``steps`` steps
    (meaningful in a fresh process that builds only one model: ``--memory-probe``)."""
    gc.collect()
    built = peak_rss_mib()
    for _ in range(steps):
        step()
    return dict(built=built, peak=peak_rss_mib())


def cuda_step_peak_mib(run: Callable[[], Any]) -> float:
    """CUDA memory allocated at the peak of ``run()`` over what was allocated before it (MiB)."""
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    run()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def step_flops(names: Sequence[str], forward_backward: Callable[[str], Any],
               optims: Mapping[str, Any]) -> Dict[str, int]:
    """``{name}.flops``: FLOPs of one forward + backward of each model (gradients dropped)."""
    flops = {}
    for name in names:
        flops[name + '.flops'] = count_flops(lambda name=name: forward_backward(name))
        optims[name].zero_grad()
    return flops


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


GEMM_OPS = ('aten.mm.', 'aten.addmm.', 'aten.bmm.', 'aten.baddbmm.')
OPTIMIZER_OPS = ('adamw', 'aten._foreach_')  # fused / foreach AdamW, clip-norm and its scaling


class _OpTimer(TorchDispatchMode):
    """Seconds per op kind of what runs inside it (CPU: each op is timed as it returns)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = dict(gemm=0.0, optimizer=0.0, all=0.0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t0 = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        dt = time.perf_counter() - t0
        name = str(func)
        kind = ('gemm' if name.startswith(GEMM_OPS) else
                'optimizer' if any(k in name for k in OPTIMIZER_OPS) else None)
        if kind:
            self.seconds[kind] += dt
        self.seconds['all'] += dt
        return out


def op_breakdown(names: Sequence[str], run_step: Callable[[str], Any]) -> Dict[str, Dict]:
    """One step per model under a per-op timer (CPU): seconds in GEMMs (mm / addmm / bmm), in
    the optimizer (AdamW and gradient clipping) and in all ops."""
    out = {}
    for name in names:
        with _OpTimer() as timer:
            run_step(name)
        out[name] = timer.seconds
    return out


def print_breakdown(times: Dict[str, List[Dict[str, float]]], breakdown: Dict[str, Dict],
                    goal: float) -> None:
    """Each model's median step split into GEMMs / optimizer (timed per op in one more step) /
    the rest (ms), then what the first model's step must be for ``goal`` x the second's img/s
    against what its GEMMs and optimizer alone take."""
    med = medians(times)
    for name, sec in breakdown.items():
        rest = med[name]['total'] - sec['gemm'] - sec['optimizer']
        print(f'  {name:10s} step {1e3 * med[name]["total"]:.0f} ms = GEMMs '
              f'{1e3 * sec["gemm"]:.0f} + AdamW / clipping {1e3 * sec["optimizer"]:.0f} + '
              f'the rest {1e3 * rest:.0f} ms (GEMMs, AdamW timed per op)')
    ours, theirs = list(times)
    floor = breakdown[ours]['gemm'] + breakdown[ours]['optimizer']
    print(f'  {goal:.2f}x {theirs} needs a {ours} step of {1e3 * med[theirs]["total"] / goal:.0f}'
          f' ms; its GEMMs and optimizer alone take {1e3 * floor:.0f} ms')


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


def add_cpu_peak_rss(peak: Dict[str, float], script: str, args: argparse.Namespace,
                     names: Sequence[str], prec: str, extra: Sequence[str] = ()) -> None:
    """``peak[name]`` = peak RSS and ``peak[name.step]`` = its growth over the built model, from
    a fresh process per model (:func:`cpu_peak_rss`)."""
    for name in names:
        rss = cpu_peak_rss(script, args, name, prec, extra)
        peak[name] = rss['peak']
        peak[name + '.step'] = rss['peak'] - rss['built']


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


def memory_text(peak: Mapping[str, float], name: str, resident: Optional[float] = None) -> str:
    """The memory part of a model's row: CPU peak RSS (+ growth over the built model) or the
    CUDA step peak (over the ``resident`` weights / buffers / optimizer state when given)."""
    if name + '.step' in peak:
        return (f', peak RSS {peak[name]:.0f} MiB '
                f'(+{peak[name + ".step"]:.0f} MiB over the built model)')
    if name not in peak:
        return ''
    text = f', step peak allocated {peak[name]:.0f} MiB'
    if resident is not None:
        text += f' over {resident:.0f} MiB resident'
    return text


def report(args: argparse.Namespace, prec: str, times: Dict[str, List[Dict[str, float]]],
           peak: Mapping[str, float], model_part: str, digits: int = 2,
           resident: Optional[Mapping[str, float]] = None) -> None:
    """Print one precision's block: the matmul peak measured now, per model its median img/s,
    model / step seconds (``digits`` decimals), memory, per-step img/s, FLOPs and MFU, then the
    ratio of the first model over the second (``model_part``: what the model time covers)."""
    med = medians(times)
    matmul_peak = matmul_peak_flops(torch.bfloat16 if prec == 'bf16' else torch.float32,
                                    torch.device(args.device))
    print(f'[{prec}] matmul peak {matmul_peak / 1e12:.3f} TFLOP/s (2048^3 {prec} mm, '
          'measured now)')
    for name in times:
        ips = args.batch / med[name]['total']
        mem = memory_text(peak, name, None if resident is None else resident[name])
        spread = [round(args.batch / t['total'], 2) for t in times[name]]
        print(f'  {name:10s} {ips:7.2f} img/s  (model {med[name]["model"]:.{digits}f} s, '
              f'step {med[name]["total"]:.{digits}f} s{mem}); img/s per step {spread}')
        flops = peak[name + '.flops']
        print(f'  {"":10s} {flops / 1e9:.1f} GFLOP per step: '
              f'{mfu(flops, med[name]["total"], matmul_peak)} '
              f'(model part {mfu(flops, med[name]["model"], matmul_peak)})')
    ours, theirs = list(times)
    ratio = med[theirs]['total'] / med[ours]['total']
    ratio_model = med[theirs]['model'] / med[ours]['model']
    print(f'  ratio {ours} / {theirs}: {ratio:.2f}x img/s '
          f'({model_part} only: {ratio_model:.2f}x)')
