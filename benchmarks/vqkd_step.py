"""VQ-KD tokenizer training step: throughput (img/s) and peak memory, fp32 and bf16 autocast.

Official sizes by default (ViT-B/16 encoder, 8192 x 32 codebook, 3-layer decoder, CLIP
ViT-B/16 teacher with random weights). The default batch is small for a CPU run:

    python benchmarks/vqkd_step.py                       # CPU, batch 2, 3 steps
    python benchmarks/vqkd_step.py --device cuda --batch-size 64 --steps 20
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from step_harness import count_flops, matmul_peak_flops, mfu  # noqa: E402

from mmbeit.utils.cpu_malloc import keep_freed_memory  # noqa: E402


def build(img_size: int):
    import mmbeit.models  # noqa: F401
    from mmbeit.registry import MODELS

    return MODELS.build(dict(
        type='VQKD',
        tokenizer=dict(type='VQKDTokenizer', encoder=dict(arch='base', img_size=img_size,
                                                          patch_size=16),
                       num_tokens=8192, code_dims=32,
                       decoder=dict(embed_dims=768, num_layers=3, num_heads=12),
                       target_dims=512),
        teacher=dict(type='CLIPTeacher', img_size=img_size, checkpoint=None)))


def forward_backward(model, opt, images, bf16: bool, device: str) -> None:
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        losses = model.loss(images)
    opt.zero_grad(set_to_none=True)
    (losses['loss_cos'] + losses['loss_commit']).backward()


def run(model, opt, images, steps: int, bf16: bool, device: str) -> float:
    for i in range(steps + 1):  # the first step (k-means init, allocation) is not timed
        if i == 1:
            if device == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
        forward_backward(model, opt, images, bf16, device)
        opt.step()
    if device == 'cuda':
        torch.cuda.synchronize()
    return images.shape[0] * steps / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--img-size', type=int, default=224)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--modes', nargs='+', default=['fp32', 'bf16'])
    args = parser.parse_args(argv)
    if args.device == 'cpu':
        keep_freed_memory()  # as tools/train.py does on CPU
    images = torch.rand(args.batch_size, 3, args.img_size, args.img_size,
                        device=args.device) * 2 - 1
    print(f'device {args.device}, batch {args.batch_size}, {args.img_size} px, '
          f'{args.steps} timed steps')
    for mode in args.modes:
        torch.manual_seed(0)
        model = build(args.img_size).to(args.device).train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4,
                                betas=(0.9, 0.99), weight_decay=1e-4, fused=True)  # recipe
        if args.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        speed = run(model, opt, images, args.steps, mode == 'bf16', args.device)
        if args.device == 'cuda':
            peak = torch.cuda.max_memory_allocated() / 2 ** 30
            mem = f'peak GPU memory {peak:.2f} GiB'
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
            mem = f'peak process RSS {peak:.2f} GiB'
        flops = count_flops(lambda m=model, o=opt, bf16=mode == 'bf16': forward_backward(
            m, o, images, bf16, args.device))
        peak_flops = matmul_peak_flops(torch.bfloat16 if mode == 'bf16' else torch.float32,
                                       torch.device(args.device))
        step_s = args.batch_size / speed
        print(f'{mode:>5}: {speed:8.2f} img/s, {mem}; {flops / 1e9:.1f} GFLOP per step, '
              f'{mfu(flops, step_s, peak_flops)} of the {peak_flops / 1e12:.3f} TFLOP/s '
              f'{mode} matmul peak measured now')
        del model, opt


if __name__ == '__main__':
    main()
