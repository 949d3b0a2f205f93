"""The random resized crop boxes of mmpretrain's two crop transforms, drawn from ``np.random``
in the same order (so a seeded run gives the same boxes as mmpretrain's transforms).

Two variants exist upstream and both are kept: ``RandomResizedCropAndInterpolationWithTwoPic``
(BEiT, after timm) accepts a box only when it is strictly smaller than the image and draws its
offset from ``[0, H - h)``; ``RandomResizedCrop`` accepts a box that fits (``<=``) and draws from
``[0, H - h]``. Both fall back to the central crop of the clamped aspect ratio after 10 tries.
"""
from __future__ import annotations

import math
from typing import Tuple

import numpy as np

Box = Tuple[int, int, int, int]  # (top, left, height, width)
MAX_ATTEMPTS = 10


def sample_crop_box(height: int, width: int, scale: Tuple[float, float],
                    ratio: Tuple[float, float], two_pic: bool) -> Box:
    """A (top, left, h, w) box of area ``U(scale) * H * W`` and log-uniform aspect ``ratio``.

    ``two_pic`` selects the BEiT two-pic variant's acceptance and offset rules (see above).
    """
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(MAX_ATTEMPTS):
        target_area = np.random.uniform(*scale) * area
        aspect = math.exp(np.random.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if two_pic and w < width and h < height:
            return np.random.randint(0, height - h), np.random.randint(0, width - w), h, w
        if not two_pic and 0 < w <= width and 0 < h <= height:
            return (np.random.randint(0, height - h + 1), np.random.randint(0, width - w + 1),
                    h, w)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w
