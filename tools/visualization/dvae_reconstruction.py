"""Write an image | dVAE reconstruction grid PNG (tokens decoded by the argmax path).

Example::

    python tools/visualization/dvae_reconstruction.py \
        configs/beit/dvae_dalle-tiny-64_1xb64-600iter_digits.py work_dirs/dvae/iter_600.pth \
        --out recon.png --num 16
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from mmbeit.registry import DATASETS, MODELS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='a dVAE training config (model type DVAE)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint with the tokenizer (any layout DALLEdVAE reads)')
    parser.add_argument('--out', default='dvae_reconstruction.png')
    parser.add_argument('--num', type=int, default=16, help='number of images')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    init_default_scope('mmbeit')
    tok_cfg = dict(cfg.model.tokenizer)
    if args.checkpoint:
        tok_cfg['checkpoint'] = args.checkpoint
    tokenizer = MODELS.build(tok_cfg).eval()
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    rows = []
    for i in range(min(args.num, len(dataset))):
        img = dataset[i]['inputs'].flip(0).float() / 255  # packed BGR uint8 -> RGB [0, 1]
        if tokenizer.input_range == 'byte':
            img = img * 255
        rec = tokenizer.decode(tokenizer.tokenize(img[None]))[0]
        pair = torch.cat([img.clamp(0, 1) if tokenizer.input_range != 'byte' else img / 255,
                          rec], dim=2)
        rows.append((pair.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(f'wrote {len(rows)} image | reconstruction pairs to {args.out}')


if __name__ == '__main__':
    main()
