"""MoCo v3 ``micro_batch_size``: peak memory and step time of one training step of the same
batch run at once and in micro-batches (ViT-S/16 recipe; the loss and gradients are the same).

Each setting runs in a fresh process (``--probe``), which builds the model, runs a warm-up step
(AdamW allocates its state), one measured step and the timed steps, and reports the measured
step's peak memory over what was held before it: on CUDA ``max_memory_allocated``, on CPU the
peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs``) over the RSS before the step.

    .venv/bin/python benchmarks/mocov3_micro_batch.py                       # CPU, ~3 min
    .venv/bin/python benchmarks/mocov3_micro_batch.py --device cuda --img-size 224 \\
        --batch 512 --micro 64 128 --steps 5
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from mmengine.optim import build_optim_wrapper

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def reset_peak_rss() -> float:
    """Reset this process's peak RSS to its current RSS (Linux ``clear_refs`` 5); returns the
    current RSS in MiB."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:')) / 1024


def probe(args: argparse.Namespace, micro: int) -> dict:
    """Build, warm up, time ``args.steps`` steps; peak memory of a step over the built model."""
    harness, bench = _load('step_harness'), _load('mocov3_step')
    harness.quiet_logs()
    device = torch.device(args.device)
    model = bench.build_mmbeit(args.img_size, args.arch, args.hid_channels).to(device)
    model.micro_batch_size = micro or None
    wrapper = build_optim_wrapper(model, bench.optim_cfg('foreach'))
    gen = torch.Generator().manual_seed(0)
    views = [torch.randint(0, 256, (args.batch, 3, args.img_size, args.img_size),
                           generator=gen).to(device, torch.uint8) for _ in range(2)]
    data = dict(inputs=views, data_samples=None)
    model.train()
    model.train_step(data, wrapper)  # warm-up: AdamW allocates its state here
    if device.type == 'cuda':
        peak = harness.cuda_step_peak_mib(lambda: model.train_step(data, wrapper))
    else:
        gc.collect()
        base = reset_peak_rss()
        model.train_step(data, wrapper)
        peak = harness.peak_rss_mib() - base
    times = []
    for _ in range(args.steps):
        harness.sync(device)
        start = time.perf_counter()
        model.train_step(data, wrapper)
        harness.sync(device)
        times.append(time.perf_counter() - start)
    return dict(peak_mib=peak, step_s=statistics.median(times))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='small', choices=['small', 'tiny'])
    parser.add_argument('--img-size', type=int, default=112)
    parser.add_argument('--batch', type=int, default=64, help='images per step (per rank)')
    parser.add_argument('--micro', type=int, nargs='+', default=[16, 8],
                        help='micro-batch sizes to compare with the whole batch')
    parser.add_argument('--hid-channels', type=int, default=None)
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--probe', type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe is not None:
        print(json.dumps(probe(args, args.probe)))
        return
    print(f'conditions: {args.device}, {torch.get_num_threads()} threads, load '
          f'{os.getloadavg()[0]:.2f}; MoCo v3 ViT-{args.arch[0].upper()}/16 at '
          f'{args.img_size} px, batch {args.batch} (two views), fp32, AdamW; median of '
          f'{args.steps} steps after a warm-up; each setting in a fresh process')
    rows = {}
    for micro in [0, *args.micro]:
        cmd = [sys.executable, os.path.abspath(__file__), '--probe', str(micro),
               '--arch', args.arch, '--img-size', str(args.img_size), '--batch',
               str(args.batch), '--steps', str(args.steps), '--device', args.device]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        if args.hid_channels:
            cmd += ['--hid-channels', str(args.hid_channels)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            print(f'micro {micro}: probe failed: {res.stderr.strip().splitlines()[-1:]}')
            continue
        rows[micro] = json.loads(res.stdout.strip().splitlines()[-1])
    full = rows.get(0)
    for micro, row in rows.items():
        label = 'whole batch' if micro == 0 else f'micro-batch {micro}'
        extra = '' if full is None or micro == 0 else (
            f'  memory {row["peak_mib"] / full["peak_mib"]:.2f}x, '
            f'time {row["step_s"] / full["step_s"]:.2f}x of the whole batch')
        print(f'{label:16s} step {row["step_s"]:7.3f} s ({args.batch / row["step_s"]:6.1f} '
              f'img/s)  peak +{row["peak_mib"]:8.1f} MiB{extra}')


if __name__ == '__main__':
    main()
