"""Train-pipeline throughput per core: mmbeit's recipes vs mmpretrain 1.2's, and JPEG decode.

Each recipe's train pipeline is built from mmbeit's config and from mmpretrain's own config
(BEiT, BEiT v2, MoCo v3 ViT; VQ-KD and the dVAE have no mmpretrain recipe, so their baseline is
the same steps as mmpretrain transforms) and run on the same real-photo JPEGs at ImageNet sizes
(``photos.py``), one sample at a time, as one DataLoader worker does, on one thread. The two
alternate round by round (who goes first flips), with ``cv2.imread`` alone in the same rounds.
``--workers N`` adds a full DataLoader (batch 64, persistent workers, mmengine's collate) of
each; ``--per-transform`` the milliseconds of every step.

    .venv/bin/python benchmarks/data_pipeline.py                       # all recipes, ~2 min
    .venv/bin/python benchmarks/data_pipeline.py --recipes beitv2 --per-transform --workers 2
"""
from __future__ import annotations

import argparse
import copy
import gc
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import cv2
import mmpretrain
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope

REPO = Path(__file__).resolve().parents[1]
MMPRETRAIN_CONFIGS = Path(mmpretrain.__file__).parent / '.mim' / 'configs'
# the same steps as mmpretrain transforms, for the recipes mmpretrain has no config of
RRC_FLIP = dict(vqkd=(224, (0.08, 1.0)), dvae=(256, (0.35, 1.0)))
RECIPES = {  # name: (mmbeit config, mmpretrain config or None)
    'beitv2': ('configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py',
               'beitv2/beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'),
    'beit': ('configs/beit/beit_vit-base-p16_16xb128-amp-coslr-800e_in1k.py',
             'beit/beit_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'),
    'mocov3': ('configs/mocov3/mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py',
               'mocov3/mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k.py'),
    'vqkd': ('configs/vqkd/vqkd_vit-base-p16_8xb64-clip-100e_in1k.py', None),
    'dvae': ('configs/beit/dvae_dalle-8192_8xb64-amp-3000kiter-256px_in1k.py', None),
}


def _photos_module():
    spec = importlib.util.spec_from_file_location('bench_photos', REPO / 'benchmarks' / 'photos.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_pipeline_steps(recipe: str, side: str) -> List[dict]:
    """The train pipeline (list of step dicts) of ``recipe`` for ``side`` 'mmbeit' or
    'mmpretrain'."""
    ours, theirs = RECIPES[recipe]
    if side == 'mmbeit':
        return Config.fromfile(str(REPO / ours)).train_dataloader.dataset.pipeline
    if theirs is not None:
        return Config.fromfile(str(MMPRETRAIN_CONFIGS / theirs)).train_dataloader.dataset.pipeline
    size, scale = RRC_FLIP[recipe]
    return [dict(type='LoadImageFromFile'),
            dict(type='RandomResizedCrop', scale=size, crop_ratio_range=scale,
                 backend='pillow', interpolation='bicubic'),
            dict(type='RandomFlip', prob=0.5, direction='horizontal'),
            dict(type='PackInputs')]


def build_pipeline(recipe: str, side: str) -> List[Callable]:
    """The built steps, in the side's registry scope."""
    init_default_scope('mmbeit' if side == 'mmbeit' else 'mmpretrain')
    return list(Compose(copy.deepcopy(train_pipeline_steps(recipe, side))).transforms)


def run_once(steps: Sequence[Callable], path: str, times: np.ndarray = None) -> dict:
    results = dict(img_path=path)
    for k, step in enumerate(steps):
        start = time.perf_counter()
        results = step(results)
        if times is not None:
            times[k] += time.perf_counter() - start
    return results


def alternate(recipe: str, paths: Sequence[str], rounds: int) -> Dict[str, List[float]]:
    """img/s per round of mmbeit, mmpretrain and cv2.imread, alternating."""
    pipes = {side: build_pipeline(recipe, side) for side in ('mmbeit', 'mmpretrain')}
    runners = {side: (lambda p, s=steps: run_once(s, p)) for side, steps in pipes.items()}
    runners['decode'] = lambda p: cv2.imread(p)
    for run in runners.values():  # warm-up
        run(paths[0])
    rates = {name: [] for name in runners}
    for r in range(rounds):
        order = list(runners) if r % 2 == 0 else list(runners)[::-1]
        for name in order:
            np.random.seed(r)
            start = time.perf_counter()
            for path in paths:
                runners[name](path)
            rates[name].append(len(paths) / (time.perf_counter() - start))
    return rates


def per_transform(recipe: str, paths: Sequence[str]) -> None:
    for side in ('mmbeit', 'mmpretrain'):
        steps = build_pipeline(recipe, side)
        times = np.zeros(len(steps))
        for path in list(paths) * 2:
            run_once(steps, path, times)
        print(f'  {side} ms per image by step:')
        for step, total in zip(steps, times):
            print(f'    {type(step).__name__:46s} {1e3 * total / (2 * len(paths)):7.2f}')


class _FileDataset(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[str], recipe: str, side: str) -> None:
        self.paths, self.recipe, self.side, self.steps = list(paths), recipe, side, None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        if self.steps is None:  # built in the worker, in its own registry scope
            cv2.setNumThreads(1)
            self.steps = build_pipeline(self.recipe, self.side)
        return run_once(self.steps, self.paths[index])


def loader_rate(recipe: str, side: str, paths: Sequence[str], workers: int,
                batches: int) -> float:
    """img/s of a DataLoader with ``workers`` persistent workers over ``batches`` batches."""
    loader = torch.utils.data.DataLoader(
        _FileDataset(paths, recipe, side), batch_size=64, num_workers=workers,
        persistent_workers=workers > 0, collate_fn=default_collate,
        sampler=torch.utils.data.RandomSampler(paths, replacement=True,
                                               num_samples=64 * (batches + workers + 1)))
    iterator = iter(loader)
    for _ in range(workers + 1):  # every worker has built its pipeline and run a batch
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    rate = 64 * batches / (time.perf_counter() - start)
    del iterator, loader
    gc.collect()  # the persistent workers exit with their loader
    time.sleep(1.0)
    return rate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--recipes', nargs='+', default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument('--photos', type=int, default=48, help='JPEGs made and read')
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--workers', type=int, default=0,
                        help='also time a DataLoader with N workers (0: skip)')
    parser.add_argument('--batches', type=int, default=8, help='DataLoader batches timed')
    parser.add_argument('--per-transform', action='store_true')
    parser.add_argument('--gpu-img-s', type=float, default=2000.0,
                        help='img/s one GPU consumes, for the cores-per-GPU line (a ViT-B '
                        'BEiT v2 step at ~45 %% MFU on a current data-centre GPU)')
    parser.add_argument('--photo-dir', default=os.path.join(tempfile.gettempdir(),
                                                            'mmbeit_bench_photos'))
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    paths = [str(p) for p in _photos_module().write_photo_jpegs(Path(args.photo_dir),
                                                                args.photos)]
    sizes = sorted({cv2.imread(p).shape[:2] for p in paths})
    print(f'conditions: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, '
          f'load {os.getloadavg()[0]:.2f}, 1 thread (cv2, torch), python {sys.version.split()[0]}'
          f', mmpretrain {mmpretrain.__version__}, opencv {cv2.__version__}; {len(paths)} '
          f'photo JPEGs (q90) of sizes {sizes}; {args.rounds} alternating rounds, median')
    print(f'{"recipe":8s} {"mmbeit":>9s} {"mmpretrain":>11s} {"ratio":>6s} {"decode":>8s} '
          f'{"of decode":>10s} {"cores/GPU":>14s}')
    for recipe in args.recipes:
        rates = {k: statistics.median(v) for k, v in alternate(recipe, paths,
                                                                args.rounds).items()}
        ours, theirs, decode = rates['mmbeit'], rates['mmpretrain'], rates['decode']
        print(f'{recipe:8s} {ours:9.1f} {theirs:11.1f} {ours / theirs:5.2f}x {decode:8.1f} '
              f'{100 * ours / decode:9.1f}% {args.gpu_img_s / ours:6.1f} vs '
              f'{args.gpu_img_s / theirs:5.1f}')
        if args.per_transform:
            per_transform(recipe, paths)
    print('img/s per core (one thread, one sample at a time, as a DataLoader worker); '
          f'cores/GPU = {args.gpu_img_s:.0f} img/s / per-core rate, mmbeit vs mmpretrain')
    for recipe in args.recipes if args.workers else []:  # after the per-core rows: workers
        loaders = {side: loader_rate(recipe, side, paths, args.workers, args.batches)
                   for side in ('mmbeit', 'mmpretrain')}  # that wind down cannot disturb them
        print(f'{recipe:8s} DataLoader, {args.workers} workers, batch 64: mmbeit '
              f'{loaders["mmbeit"]:.1f} img/s, mmpretrain {loaders["mmpretrain"]:.1f} img/s '
              f'({loaders["mmbeit"] / loaders["mmpretrain"]:.2f}x)')


if __name__ == '__main__':
    main()
