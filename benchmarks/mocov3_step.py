"""MoCo v3 ViT-S/16 training step: mmbeit vs mmpretrain 1.2, alternating in one process.

Both models come from their ViT-S recipe (mmbeit's ``configs/mocov3/mocov3_vit-small-p16_32xb128-
amp-coslr-300e_in1k.py``, mmpretrain's ``mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k
.py``; SyncBN -> BN, no process group here) with the same AdamW (lr 2.4e-3, wd 0.1). A step =
``SelfSupDataPreprocessor`` on the same synthetic uint8 two-view batch + loss (query encoder,
momentum update of the key encoder, keys, symmetrised InfoNCE) + backward + AdamW step. The two
models alternate step by step (who goes first flips each round) after warm-up steps, so both see
the same machine load. Reported per precision (fp32, bf16 autocast): median img/s per model, the
ratio, the ratio of the model part only (preprocessor + loss + backward), and peak memory (CUDA:
``max_memory_allocated`` of one step over the resident weights / buffers / AdamW state; CPU: peak
RSS of a fresh process per model).

    python benchmarks/mocov3_step.py          # CPU: batch 8, 224 px, 3 rounds x 1 step, 2-3 min
    python benchmarks/mocov3_step.py --device cuda --batch 128 --rounds 5 --steps 10
    python benchmarks/mocov3_step.py --arch tiny --img-size 32 --batch 2 --hid-channels 64  # smoke
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)
import step_harness as harness  # noqa: E402

MODEL_NAMES = ('mmbeit', 'mmpretrain')
MMBEIT_CONFIG = 'configs/mocov3/mocov3_vit-small-p16_32xb128-amp-coslr-300e_in1k.py'
# mmpretrain::mocov3/... (Config.fromfile of mmengine 0.10.7 cannot open the '::' name itself)
MMPRETRAIN_CONFIG = 'mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'
# --arch tiny: ViT-Ti/16 (192 wide, 12 layers, 3 heads) in each library's arch spelling
TINY_ARCH = dict(mmbeit=dict(embed_dims=192, num_layers=12, num_heads=3, mlp_ratio=4.0),
                 mmpretrain=dict(embed_dims=192, num_layers=12, num_heads=3,
                                 feedforward_channels=768))


def mmbeit_config() -> Config:
    return Config.fromfile(os.path.join(REPO_ROOT, MMBEIT_CONFIG))


def mmpretrain_config() -> Config:
    import mmpretrain
    return Config.fromfile(os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'configs',
                                        MMPRETRAIN_CONFIG))


def optim_cfg(impl: str = 'foreach') -> dict:
    """mmbeit's recipe optimizer (identical to mmpretrain's: AdamW lr 2.4e-3, wd 0.1), as a plain
    ``OptimWrapper`` (bf16 runs under ``torch.autocast`` instead of the recipe's fp16 AMP, which
    needs CUDA); ``impl`` picks torch's AdamW implementation, the same for both models."""
    opt = dict(mmbeit_config().optim_wrapper.optimizer)
    opt.update(harness.ADAMW_IMPL[impl])
    return dict(type='OptimWrapper', optimizer=opt)


def set_schedule(cur_iter: int = 0, max_iters: int = 93_750) -> None:
    """Both algorithms read ``iter`` / ``max_iters`` from the message hub for the cosine
    momentum (a runner sets them; default: 300 epochs x 312.5 iters of ImageNet at 4096)."""
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', cur_iter)
    hub.update_info('max_iters', max_iters)


def build_mmbeit(img_size: int = 224, arch: str = 'small',
                 hid_channels: Optional[int] = None):
    """mmbeit's MoCoV3 from its ViT-S recipe (``arch='tiny'``: ViT-Ti, for tests)."""
    import mmbeit.models  # noqa: F401
    from mmbeit.registry import MODELS
    model_cfg = mmbeit_config().model
    model_cfg.backbone.img_size = img_size
    if arch == 'tiny':
        model_cfg.backbone.arch = TINY_ARCH['mmbeit']
        model_cfg.neck.in_channels = TINY_ARCH['mmbeit']['embed_dims']
    if hid_channels:
        model_cfg.neck.hid_channels = model_cfg.predictor.hid_channels = hid_channels
    set_schedule()
    with DefaultScope.overwrite_default_scope('mmbeit'):
        model = MODELS.build(model_cfg)
    model.init_weights()
    return model


def build_mmpretrain(img_size: int = 224, arch: str = 'small',
                     hid_channels: Optional[int] = None):
    """mmpretrain 1.2's MoCoV3 from its ViT-S recipe, SyncBN -> BN (single process)."""
    from mmpretrain.registry import MODELS
    cfg = mmpretrain_config()
    model_cfg = cfg.model
    model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)  # top level in mmpretrain
    model_cfg.backbone.img_size = img_size
    if arch == 'tiny':
        model_cfg.backbone.arch = TINY_ARCH['mmpretrain']
        model_cfg.neck.in_channels = TINY_ARCH['mmpretrain']['embed_dims']
    for mlp in (model_cfg.neck, model_cfg.head.predictor):  # NonLinearNeck defaults to SyncBN
        mlp.norm_cfg = dict(type='BN1d')
        if hid_channels:
            mlp.hid_channels = hid_channels
    set_schedule()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(model_cfg)
    model.init_weights()
    return model


BUILDERS = dict(mmbeit=build_mmbeit, mmpretrain=build_mmpretrain)


def build(name: str, args) -> torch.nn.Module:
    return BUILDERS[name](args.img_size, args.arch, args.hid_channels).to(args.device).train()


def make_batch(batch: int, img_size: int, device, seed: int = 0) -> dict:
    """A collated two-view batch as the dataloader gives it: ``inputs`` = two uint8
    (B, 3, S, S) BGR tensors, ``data_samples`` = B empty ``DataSample``."""
    g = torch.Generator().manual_seed(seed)
    views = [torch.randint(0, 256, (batch, 3, img_size, img_size), generator=g,
                           dtype=torch.uint8).to(device) for _ in range(2)]
    return dict(inputs=views, data_samples=[DataSample() for _ in range(batch)])


def forward_backward(model, optim, data: dict, dtype: Optional[torch.dtype]) -> torch.Tensor:
    """Preprocessor + loss (with the momentum update) + backward; returns the loss."""
    dev = next(model.parameters()).device
    with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
    loss, _ = model.parse_losses(losses)
    optim.backward(loss)
    return loss


def step(model, optim, data: dict, dtype: Optional[torch.dtype]) -> Dict[str, float]:
    """One training step; returns its model (preprocessor + loss + backward) and total times
    (s). Each algorithm updates its own momentum key encoder inside ``loss``."""
    dev = next(model.parameters()).device
    times, loss = harness.timed_step(dev, lambda: forward_backward(model, optim, data, dtype),
                                     optim)
    return dict(times, loss=float(loss.detach()))


def resident_mib(model, optim) -> float:
    """Weights, buffers and optimizer state of one model (MiB)."""
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [v for s in optim.optimizer.state.values() for v in s.values()
                if isinstance(v, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def probe_peak_rss(args, name: str, prec: str) -> Dict[str, float]:
    """Peak RSS (MiB) of this process after building ``name`` and after warm-up + 1 steps
    (meaningful in a fresh process that builds only this model)."""
    models, optims = harness.build_models([name], lambda n: build(n, args),
                                          optim_cfg(args.optimizer_impl))
    model, optim = models[name], optims[name]
    data = make_batch(args.batch, args.img_size, args.device)
    dtype = torch.bfloat16 if prec == 'bf16' else None
    return harness.rss_over_steps(lambda: step(model, optim, data, dtype), args.warmup + 1)


def run_precision(args, models, optims, data, prec: str):
    """Warm-up, CUDA step peak per model, then alternating timed steps."""
    dtype = torch.bfloat16 if prec == 'bf16' else None
    for name in models:  # allocator, oneDNN caches, lazily created AdamW state
        for _ in range(args.warmup):
            step(models[name], optims[name], data, dtype)
    peak: Dict[str, float] = harness.step_flops(models, lambda name: forward_backward(
        models[name], optims[name], data, dtype), optims)
    if args.device.type == 'cuda':
        for name in models:
            peak[name] = harness.cuda_step_peak_mib(
                lambda name=name: step(models[name], optims[name], data, dtype))
    times = harness.alternate_steps(list(models), lambda name: step(
        models[name], optims[name], data, dtype), args.rounds, args.steps)
    return times, peak


def report(args, models, optims, prec: str, times, peak) -> None:
    resident = ({k: resident_mib(models[k], optims[k]) for k in models}
                if args.device.type == 'cuda' else None)
    harness.report(args, prec, times, peak, 'preprocessor + loss + backward', digits=3,
                   resident=resident)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    harness.add_common_args(parser, batch=8, steps=1)
    parser.add_argument('--arch', default='small', choices=['small', 'tiny'],
                        help='ViT-S/16 (the recipe) or ViT-Ti/16 (smoke tests)')
    parser.add_argument('--hid-channels', type=int, default=0,
                        help='projector / predictor hidden width (0: the recipe, 4096)')
    args = parser.parse_args(argv)
    args.device = torch.device(args.device)
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    harness.quiet_logs()
    if args.memory_probe:
        print(json.dumps(probe_peak_rss(args, *args.memory_probe)))
        return
    models, optims = harness.build_models(MODEL_NAMES, lambda name: build(name, args),
                                          optim_cfg(args.optimizer_impl))
    data = make_batch(args.batch, args.img_size, args.device)
    n_params = {k: sum(p.numel() for p in m.parameters() if p.requires_grad) / 1e6
                for k, m in models.items()}
    print(f'device {args.device} ({torch.get_num_threads()} threads, load avg '
          f'{os.getloadavg()[0]:.1f}), torch {torch.__version__}, ViT-{args.arch[0].upper()}/16 '
          f'{args.img_size}px, batch {args.batch} x 2 views, AdamW {args.optimizer_impl}, '
          f'{args.rounds} rounds x {args.steps} steps per model (alternating), {args.warmup} '
          f'warm-up; trainable params ' + ', '.join(f'{k} {v:.2f}M' for k, v in n_params.items())
          + '; medians')
    for prec in args.precision:
        times, peak = run_precision(args, models, optims, data, prec)
        if args.device.type == 'cpu' and not args.no_memory:
            extra = ['--arch', args.arch]
            if args.hid_channels:
                extra += ['--hid-channels', str(args.hid_channels)]
            harness.add_cpu_peak_rss(peak, os.path.abspath(__file__), args, list(models), prec,
                                     extra)
        report(args, models, optims, prec, times, peak)


if __name__ == '__main__':
    main()
