"""VQ-KD codebook usage at the real vocabulary size (K=8192, D=32) on the embedded digits.

Trains the tokenizer twice in one run, same seed, same data order, same teacher (a frozen
random-init BEiT ViT from this project): the official recipe (k-means init on the first batch,
EMA, no restarts) and mmbeit's (the same plus dead-code restarts, window 20 steps, and the
assignment-entropy loss, weight 0.1, temperature 0.01, on 4096 vectors a step). After every
epoch it prints the validation set's codebook usage and perplexity (``CodebookUsageMetric``)
and the mean cosine between the decoded tokens and the teacher features, and ends with::

    usage K=8192: X% (official recipe Y%)

The 32 px digits are cut into 2x2 patches (16x16 tokens per image), so one pass over the 359
validation images has 91,904 tokens, 11.2 per code (the header line prints this ratio and
warns below 4): a balanced codebook would leave e^-11 of its codes unseen, so the val set is
not what caps the usage. Training images are uncropped by default, as the val images are:
bilinear-upscaled crops of 32 px digits (``--crop-scale 0.6 1``) are blurred patterns that no
val image holds, and about 15 % of the live codes then serve them only (benchmarks/README.md).
CPU, 2 cores, idle: about 25 s an epoch for the official recipe, 45 s for mmbeit's.

    python benchmarks/codebook_usage.py [--epochs 8] [--num-tokens 8192] [--code-dims 32]
        [--crop-scale 1 1] [--dead-code-window N] [--quantizer JSON]
        [--recipes official mmbeit]

``--quantizer '{"decay": 0.9}'`` merges NormEMAQuantizer arguments over the mmbeit recipe.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'benchmarks'))
from step_harness import quiet_logs  # noqa: E402

RECIPES = {  # quantizer settings; everything else is shared
    'official': dict(kmeans_init=True, dead_code_window=0),
    # dead-code restarts and the assignment-entropy loss (the quantizer's defaults are the
    # official behaviour: both off). Other settings tried: benchmarks/README.md
    # ("--quantizer" merges more arguments over this one)
    'mmbeit': dict(kmeans_init=True, dead_code_window=20, entropy_weight=0.1,
                   entropy_temperature=0.01, entropy_tokens=4096),
}


def load_split(root: Path, split: str, limit: Optional[int] = None) -> torch.Tensor:
    """(N, 3, 32, 32) float images in [-1, 1] from the digits folder's meta file."""
    lines = (root / 'meta' / f'{split}.txt').read_text().split('\n')
    paths = [line.split()[0] for line in lines if line.strip()][:limit]
    images = np.stack([np.asarray(Image.open(root / p).convert('RGB')) for p in paths])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def random_resized_crops(images: torch.Tensor, generator: torch.Generator,
                         scale=(0.6, 1.0)) -> torch.Tensor:
    """One random crop (area fraction in ``scale``) per batch, resized back to the input size."""
    size = images.shape[-1]
    frac = scale[0] + (scale[1] - scale[0]) * float(torch.rand((), generator=generator))
    side = max(2, int(round(size * math.sqrt(frac))))
    top, left = (int(torch.randint(0, size - side + 1, (), generator=generator))
                 for _ in range(2))
    crop = images[..., top:top + side, left:left + side]
    return F.interpolate(crop, size=(size, size), mode='bilinear', align_corners=False)


def build_model(num_tokens: int, code_dims: int, patch_size: int, quantizer: dict,
                seed: int):
    """A tiny VQ-KD (4-layer 64-d encoder, 1-layer decoder) and a 2-layer teacher."""
    import mmbeit.models  # noqa: F401
    from mmbeit.registry import MODELS

    torch.manual_seed(seed)
    model = MODELS.build(dict(
        type='VQKD',
        tokenizer=dict(
            type='VQKDTokenizer',
            encoder=dict(arch=dict(embed_dims=64, num_layers=4, num_heads=4), img_size=32,
                         patch_size=patch_size),
            num_tokens=num_tokens, code_dims=code_dims,
            decoder=dict(embed_dims=64, num_layers=1, num_heads=4), target_dims=64,
            quantizer=quantizer),
        teacher=dict(
            type='BackboneTeacher',
            backbone=dict(type='BEiTViT', arch=dict(embed_dims=64, num_layers=2, num_heads=4),
                          img_size=32, patch_size=patch_size, pos_embed='learned',
                          use_shared_rel_pos_bias=False, layer_scale_init_value=0.0,
                          out_type='featmap'),
            checkpoint=None)))
    model.init_weights()
    return model


@torch.no_grad()
def evaluate(model, images: torch.Tensor, batch_size: int = 128) -> Dict[str, float]:
    """Codebook usage / perplexity (CodebookUsageMetric) and teacher cosine on ``images``."""
    from mmbeit.evaluation.metrics import CodebookUsageMetric

    model.eval()
    metric = CodebookUsageMetric(num_tokens=model.tokenizer.num_tokens)
    cos_sum, n = 0.0, 0
    for batch in images.split(batch_size):
        ids = model.tokenizer.tokenize(batch)
        metric.process(None, [dict(pred_tokens=t) for t in ids])
        pred = model.tokenizer.decode_features(ids)
        target = model.teacher_targets(batch)
        cos_sum += float(F.cosine_similarity(pred.float(), target.float(), dim=-1).sum())
        n += pred.shape[0] * pred.shape[1]
    model.train()
    return dict(metric.compute_metrics(metric.results), cosine=cos_sum / n)


def train_recipe(name: str, train: torch.Tensor, val: torch.Tensor, args) -> List[dict]:
    """Train one recipe; per-epoch validation figures (printed as they come)."""
    quantizer = dict(RECIPES[name])
    if name == 'mmbeit':
        quantizer.update(json.loads(args.quantizer) if args.quantizer else {})
        if args.dead_code_window:
            quantizer['dead_code_window'] = args.dead_code_window
    model = build_model(args.num_tokens, args.code_dims, args.patch_size, quantizer, args.seed)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=1e-4)
    steps_per_epoch = max(1, len(train) // args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = max(1, total // 20)
    generator = torch.Generator().manual_seed(args.seed)
    history, step, start = [], 0, time.time()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train), generator=generator)
        cos_loss = 0.0
        for i in range(steps_per_epoch):
            lr = args.lr * min(1.0, (step + 1) / warmup) * (
                0.5 * (1 + math.cos(math.pi * min(1.0, step / total))) * 0.99 + 0.01)
            for group in optimizer.param_groups:
                group['lr'] = lr
            batch = train[order[i * args.batch_size:(i + 1) * args.batch_size]]
            if args.crop_scale[0] < 1.0:
                batch = random_resized_crops(batch, generator, tuple(args.crop_scale))
            losses = model.loss(batch)
            loss = sum(v for k, v in losses.items() if k.startswith('loss_'))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            cos_loss += float(losses['loss_cos'].detach())
            step += 1
        figures = evaluate(model, val)
        figures.update(epoch=epoch, train_loss_cos=cos_loss / steps_per_epoch,
                       restarts=int(model.quantizer.num_restarts),
                       seconds=time.time() - start)
        history.append(figures)
        print(f'[{name}] epoch {epoch}/{args.epochs}: val usage {figures["usage"]:.1f}% '
              f'({int(figures["used_codes"])}/{args.num_tokens}), perplexity '
              f'{figures["perplexity"]:.0f}, teacher cosine {figures["cosine"]:.4f}; '
              f'train loss_cos {figures["train_loss_cos"]:.4f}, restarts '
              f'{figures["restarts"]}, {figures["seconds"]:.0f} s', flush=True)
    return history


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-tokens', type=int, default=8192)
    parser.add_argument('--code-dims', type=int, default=32)
    parser.add_argument('--patch-size', type=int, default=2)
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--dead-code-window', type=int, default=0,
                        help='override the mmbeit recipe restart window (0: keep 20)')
    parser.add_argument('--quantizer', default=None,
                        help='JSON of NormEMAQuantizer arguments merged over the mmbeit recipe, '
                        'e.g. \'{"decay": 0.99}\'')
    parser.add_argument('--crop-scale', type=float, nargs=2, default=(1.0, 1.0),
                        help='area range of the random resized crop per training batch '
                        '(1 1: uncropped, as the val images)')
    parser.add_argument('--data-root', default=str(REPO / 'data' / 'digits'))
    parser.add_argument('--max-train', type=int, default=None)
    parser.add_argument('--max-val', type=int, default=None)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--recipes', nargs='+', choices=list(RECIPES), default=list(RECIPES),
                        help='train only these (the summary line needs both)')
    return parser.parse_args(argv)


def main(argv=None) -> Dict[str, List[dict]]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_logs()  # no per-parameter init lines
    from mmbeit.datasets import build_digits_folder

    root = build_digits_folder(args.data_root)
    train = load_split(root, 'train', args.max_train)
    val = load_split(root, 'val', args.max_val)
    grid = 32 // args.patch_size
    val_tokens = len(val) * grid * grid
    print(f'VQ-KD K={args.num_tokens} D={args.code_dims}: {len(train)} train / {len(val)} val '
          f'digits, {grid}x{grid} tokens per image ({val_tokens} val tokens, '
          f'{val_tokens / args.num_tokens:.1f} per code), {args.epochs} epochs', flush=True)
    if val_tokens < 4 * args.num_tokens:
        print(f'warning: {val_tokens} val tokens for {args.num_tokens} codes: a usage near '
              '100% cannot be measured (use more val images or a smaller patch size)',
              flush=True)
    results = {name: train_recipe(name, train, val, args) for name in args.recipes}
    if len(results) < len(RECIPES):
        return results
    ours, official = results['mmbeit'][-1], results['official'][-1]
    print(f'teacher cosine: {ours["cosine"]:.4f} (official recipe {official["cosine"]:.4f})')
    print(f'usage K={args.num_tokens}: {ours["usage"]:.1f}% (official recipe '
          f'{official["usage"]:.1f}%)')
    return results


if __name__ == '__main__':
    main()
