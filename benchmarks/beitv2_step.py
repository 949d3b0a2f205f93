"""BEiT v2 ViT-B/16 pretraining step: mmbeit vs mmpretrain 1.2, alternating in one process.

Same batch, same recipe (AdamW, grad clip 3.0, layer scale 0.1, shared relative position bias,
75 of 14x14 patches masked, 8192 VQ-KD tokens from a ViT-B/16 tokenizer, randomly initialised
on both sides). A timed step = tokenizer + forward + backward + optimizer step; the two models
alternate step by step (the same machine state for both), after warm-up steps that also run
mmpretrain's one-off k-means codebook init. Reported: median img/s per model and precision,
the ratio, the model-only (tokenizer + fwd + bwd) ratio, and the peak memory of each model
(CUDA: max_memory_allocated of its step; CPU: peak RSS of a fresh process per model).

    python benchmarks/beitv2_step.py                      # batch 4, 3 rounds x 2 steps
    python benchmarks/beitv2_step.py --batch 64 --rounds 5 --steps 10 --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, Optional

import torch
from mmpretrain.structures import DataSample

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH_DIR))
sys.path.insert(0, BENCH_DIR)
import step_harness as harness  # noqa: E402

import mmbeit.models  # noqa: E402,F401
from mmbeit.registry import MODELS  # noqa: E402

MODEL_NAMES = ('mmbeit', 'mmpretrain')
MMBEIT_CONFIG = 'configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py'
MMPRETRAIN_CONFIG = 'beitv2/beitv2_beit-base-p16_8xb256-amp-coslr-300e_in1k.py'


def optim_cfg(impl: str) -> dict:
    """The same AdamW for both models; ``impl`` picks torch's implementation only."""
    return dict(optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.98), weight_decay=0.05,
                               **harness.ADAMW_IMPL[impl]),
                clip_grad=dict(max_norm=3.0))


def build_mmpretrain(img_size: int):
    import mmpretrain
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as MMPRE_MODELS
    cfg = Config.fromfile(os.path.join(  # mmpretrain::beitv2/...
        os.path.dirname(mmpretrain.__file__), '.mim', 'configs', MMPRETRAIN_CONFIG))
    cfg.model.target_generator.init_cfg = None  # random tokenizer weights
    cfg.model.backbone.img_size = img_size
    cfg.model.target_generator.encoder_config.img_size = img_size
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MMPRE_MODELS.build(cfg.model)
    model.init_weights()
    model.target_generator.requires_grad_(False)
    return model


def build_mmbeit(img_size: int, with_cp: bool = False):
    from mmengine.config import Config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = Config.fromfile(os.path.join(root, MMBEIT_CONFIG))
    cfg.model.backbone.img_size = img_size
    cfg.model.backbone.with_cp = cfg.model.neck.with_cp = with_cp
    tok = cfg.model.target_generator
    if MODELS.get(tok.type) is None:
        raise SystemExit(f'tokenizer {tok.type} is not registered yet')
    tok.pop('init_cfg', None)  # random tokenizer weights
    tok.encoder = dict(tok.get('encoder') or {}, img_size=img_size)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


BUILDERS = dict(mmbeit=build_mmbeit, mmpretrain=build_mmpretrain)


def build(name: str, args):
    """``name``'s model in training mode; ``--with-cp`` checkpoints mmbeit's blocks."""
    extra = dict(with_cp=args.with_cp) if name == 'mmbeit' else {}
    return BUILDERS[name](args.img_size, **extra).to(args.device).train()


def make_batch(batch: int, img_size: int, device: torch.device, seed: int = 0):
    """Two views (B, 3, S, S) and data samples with 75/196 of the patches masked."""
    g = torch.Generator().manual_seed(seed)
    grid = img_size // 16
    imgs = [torch.randn(batch, 3, img_size, img_size, generator=g).to(device)
            for _ in range(2)]
    samples = []
    for _ in range(batch):
        mask = torch.zeros(grid * grid, dtype=torch.bool)
        mask[torch.randperm(grid * grid, generator=g)[:75 * grid * grid // 196]] = True
        ds = DataSample()
        ds.set_mask(mask.view(grid, grid))
        samples.append(ds)
    return imgs, samples


def forward_backward(model, optim, imgs, samples, dtype: Optional[torch.dtype]) -> None:
    """Tokenizer + forward + backward of one step (no optimizer step)."""
    with torch.autocast(imgs[0].device.type, dtype=dtype or torch.float32,
                        enabled=dtype is not None):
        losses = model.loss(imgs, samples)
    optim.backward(sum(v for k, v in losses.items() if 'loss' in k))


def step(model, optim, imgs, samples, dtype: Optional[torch.dtype]) -> Dict[str, float]:
    """One training step; returns its model (tok + fwd + bwd) and total times (s)."""
    return harness.timed_step(imgs[0].device, lambda: forward_backward(
        model, optim, imgs, samples, dtype), optim)[0]


def memory_probe(args) -> None:
    """Fresh process, one model: peak RSS (MiB) after building and after the steps."""
    harness.quiet_logs()
    name = args.memory_probe[0]
    models, optims = harness.build_models([name], lambda n: build(n, args),
                                          optim_cfg(args.optimizer_impl))
    model, optim = models[name], optims[name]
    imgs, samples = make_batch(args.batch, args.img_size, torch.device(args.device))
    dtype = torch.bfloat16 if args.memory_probe[1] == 'bf16' else None
    print(json.dumps(harness.rss_over_steps(lambda: step(model, optim, imgs, samples, dtype),
                                            args.warmup + 1)))


def run_precision(args, models, optims, imgs, samples, prec: str, dev: torch.device):
    dtype = torch.bfloat16 if prec == 'bf16' else None
    peak: Dict[str, float] = {}
    for name in models:  # warm-up (k-means init, allocator, oneDNN caches); CUDA peak memory
        def warmup(name=name):
            for _ in range(args.warmup):
                step(models[name], optims[name], imgs, samples, dtype)
        if dev.type == 'cuda':
            peak[name] = harness.cuda_step_peak_mib(warmup)
        else:
            warmup()
    peak.update(harness.step_flops(models, lambda name: forward_backward(
        models[name], optims[name], imgs, samples, dtype), optims))
    times = harness.alternate_steps(list(models), lambda name: step(
        models[name], optims[name], imgs, samples, dtype), args.rounds, args.steps)
    return times, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    harness.add_common_args(parser, batch=4, steps=2)
    parser.add_argument('--with-cp', action='store_true',
                        help="activation checkpointing in mmbeit's backbone (with_cp=True)")
    parser.add_argument('--breakdown', action='store_true',
                        help='CPU: one more step per model under a per-op timer: GEMMs, AdamW '
                        '/ clipping and the rest, and the step 1.25x mmpretrain would need')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        return memory_probe(args)
    harness.quiet_logs()
    dev = torch.device(args.device)
    models, optims = harness.build_models(MODEL_NAMES, lambda name: build(name, args),
                                          optim_cfg(args.optimizer_impl))
    imgs, samples = make_batch(args.batch, args.img_size, dev)
    print(f'device {dev} ({torch.get_num_threads()} threads, load avg '
          f'{os.getloadavg()[0]:.1f}), torch {torch.__version__}, batch {args.batch}, '
          f'{args.img_size}px, AdamW {args.optimizer_impl}, mmbeit with_cp {args.with_cp}, '
          f'{args.rounds} rounds x '
          f'{args.steps} steps per model (alternating), {args.warmup} warm-up; medians')
    for prec in args.precision:
        times, peak = run_precision(args, models, optims, imgs, samples, prec, dev)
        if dev.type == 'cpu' and not args.no_memory:
            harness.add_cpu_peak_rss(peak, os.path.abspath(__file__), args, list(models), prec,
                                     ['--with-cp'] if args.with_cp else [])
        harness.report(args, prec, times, peak, 'tokenizer + fwd + bwd')
        if args.breakdown and dev.type == 'cpu':
            dtype = torch.bfloat16 if prec == 'bf16' else None
            harness.print_breakdown(times, harness.op_breakdown(
                list(models), lambda name, dtype=dtype: step(models[name], optims[name], imgs,
                                                             samples, dtype)), goal=1.25)


if __name__ == '__main__':
    main()
