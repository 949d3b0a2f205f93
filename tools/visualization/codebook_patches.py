"""For chosen codes, a grid of the image patches that a VQ-KD tokenizer maps to them -> PNG.

    python tools/visualization/codebook_patches.py CONFIG CHECKPOINT [--codes 3 17 42]
        [--num-codes 16] [--per-code 12] [--max-images 2000] [--out codes.png]

Runs the tokenizer over the config's validation set (progress bar); without ``--codes`` the
``--num-codes`` most frequent codes are drawn. Each row is one code, each cell one patch.
"""
from __future__ import annotations

import argparse
from typing import Optional

from mmbeit.visualization.codebook_patches import codebook_patch_grid


def main(argv: Optional[list] = None) -> str:
    parser = argparse.ArgumentParser(description='image patches per VQ-KD code')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='a VQ-KD checkpoint in any supported layout')
    parser.add_argument('--codes', type=int, nargs='*', default=None)
    parser.add_argument('--num-codes', type=int, default=16)
    parser.add_argument('--per-code', type=int, default=12)
    parser.add_argument('--max-images', type=int, default=2000)
    parser.add_argument('--out', default='codebook_patches.png')
    args = parser.parse_args(argv)
    return codebook_patch_grid(args.config, args.checkpoint, args.out, args.codes,
                               args.num_codes, args.per_code, args.max_images)


if __name__ == '__main__':
    main()
