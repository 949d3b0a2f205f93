"""Masks per second: mmbeit's BlockwiseMaskGenerator vs a per-cell reference vs mmpretrain's.

Usage: python benchmarks/masking_speed.py [--grid 14] [--budget 75] [--seconds 1] [--repeats 3]

The three generators run alternately in one process (``--repeats`` rounds, median reported), each
called as a pipeline transform, one mask per call, for about ``--seconds`` per round. The
reference is the straightforward BEiT loop of the unilm release (numpy grid, per-cell painting)
from ``tests/test_datasets/test_transforms/test_blockwise_mask.py``; mmpretrain's
``BEiTMaskGenerator`` uses the settings of its BEiT v2 config (min 16, max = budget).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmpretrain.datasets.transforms import BEiTMaskGenerator  # noqa: E402

from mmbeit.datasets.transforms import BlockwiseMaskGenerator  # noqa: E402
from tests.test_datasets.test_transforms.test_blockwise_mask import (  # noqa: E402
    reference_block_mask,
)


def masks_per_second(make_mask: Callable[[], object], seconds: float) -> float:
    """Calls ``make_mask`` repeatedly for about ``seconds``; returns calls per second."""
    calls, start = 0, time.perf_counter()
    while True:
        for _ in range(256):
            make_mask()
        calls += 256
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--grid', type=int, default=14)
    parser.add_argument('--budget', type=int, default=75)
    parser.add_argument('--seconds', type=float, default=1.0)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    grid, budget = (args.grid, args.grid), args.budget

    ours = BlockwiseMaskGenerator(grid, budget)
    theirs = BEiTMaskGenerator(grid, budget, min_num_patches=16, max_num_patches=budget)
    rnd = random.Random(0)
    runners: Dict[str, Callable[[], object]] = {
        'mmbeit BlockwiseMaskGenerator': lambda: ours(dict()),
        'per-cell reference (unilm loop)': lambda: reference_block_mask(grid, budget, rnd=rnd),
        'mmpretrain BEiTMaskGenerator': lambda: theirs(dict()),
    }
    rates = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            rates[name].append(masks_per_second(run, args.seconds))
    median = {name: statistics.median(r) for name, r in rates.items()}
    ref = median['per-cell reference (unilm loop)']
    print(f'grid {grid[0]}x{grid[1]}, budget {budget}, median of {args.repeats} x '
          f'{args.seconds:g} s')
    for name, rate in median.items():
        print(f'  {name:34s} {rate:10.0f} masks/s  ({rate / ref:5.1f}x the reference)')
    mm = median['mmbeit BlockwiseMaskGenerator']
    print(f'  mmbeit / mmpretrain: {mm / median["mmpretrain BEiTMaskGenerator"]:.1f}x')


if __name__ == '__main__':
    main()
