"""One augmented view (MoCo v3, VQ-KD) in one step, inside Pillow, bit for bit mmpretrain's.

mmpretrain's MoCo v3 view is ``RandomResizedCrop`` (Pillow) -> ``RandomApply(ColorJitter)`` ->
``RandomGrayscale`` -> ``GaussianBlur`` -> ``Solarize`` -> ``RandomFlip``; each step converts
between numpy and Pillow (strided ``img[..., ::-1]`` copies included). Here the crop enters
Pillow once, every step runs there on the 224 px view and it leaves once. The random numbers are
drawn in mmpretrain's order (numpy's generator, and Python's ``random`` for the grayscale coin
as mmcv does); a step set to None is absent and draws nothing. Tests compare seeded outputs
with mmpretrain's transforms.
"""
from __future__ import annotations

import random
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image, ImageFilter

from mmbeit.registry import TRANSFORMS

from .crop_boxes import sample_crop_box
from .pil_colour import bgr_to_pil, check_bgr, jitter_pil, pil_to_bgr, sample_jitter
from .two_pic_crop import jitter_ranges

PIL_RESAMPLE = {'nearest': Image.Resampling.NEAREST, 'bilinear': Image.Resampling.BILINEAR,
                'bicubic': Image.Resampling.BICUBIC, 'box': Image.Resampling.BOX,
                'lanczos': Image.Resampling.LANCZOS, 'hamming': Image.Resampling.HAMMING}


def grey_view(image: Image.Image, weights_bgr: Sequence[float]) -> Image.Image:
    """mmcv ``RandomGrayscale`` (keep_channels): ``uint8(sum(w / sum(w) * bgr))`` in float64,
    summed in numpy's order (b, then g, then r), replicated on three channels."""
    weights = np.asarray(weights_bgr, dtype=np.float64)
    weights = weights / weights.sum()
    levels = np.arange(256, dtype=np.float64)
    rgb = np.asarray(image)
    grey = (weights[0] * levels)[rgb[..., 2]] + (weights[1] * levels)[rgb[..., 1]]
    grey = (grey + (weights[2] * levels)[rgb[..., 0]]).astype(np.uint8)
    return Image.merge('RGB', [Image.fromarray(grey)] * 3)


def solarize_table(threshold: float) -> list:
    """mmcv ``solarize``: levels below ``threshold`` kept, the others inverted."""
    return [level if level < threshold else 255 - level for level in range(256)] * 3


@TRANSFORMS.register_module()
class ResizedCropView(BaseTransform):
    """mmpretrain's view: resized crop, then the optional colour / blur / flip steps.

    Args:
        size (int): output side (224).
        scale (tuple): crop area range (``RandomResizedCrop.crop_ratio_range``); ratio: aspect.
        interpolation (str): Pillow resampling of the crop (mmpretrain ``backend='pillow'``).
        color_jitter (dict, optional): ``ColorJitter`` arguments, applied with probability
            ``jitter_prob`` (``RandomApply``, whose coin mmcv draws even at 1.0).
        grayscale_prob (float, optional) / grayscale_weights: ``RandomGrayscale`` with
            ``keep_channels=True`` and its BGR ``channel_weights``.
        blur_prob (float, optional) / blur_sigma (tuple): ``GaussianBlur`` with
            ``magnitude_std='inf'`` (sigma uniform in the range), Pillow's filter.
        solarize_prob (float, optional) / solarize_threshold: ``Solarize``.
        flip_prob (float, optional): ``RandomFlip`` horizontal.
    """

    def __init__(self, size: int = 224, scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 interpolation: str = 'bilinear', color_jitter: Optional[Dict] = None,
                 jitter_prob: float = 1.0, grayscale_prob: Optional[float] = None,
                 grayscale_weights: Sequence[float] = (0.114, 0.587, 0.2989),
                 blur_prob: Optional[float] = None,
                 blur_sigma: Tuple[float, float] = (0.1, 2.0),
                 solarize_prob: Optional[float] = None, solarize_threshold: float = 128,
                 flip_prob: Optional[float] = None) -> None:
        if interpolation not in PIL_RESAMPLE:
            raise ValueError(f'interpolation={interpolation!r}: expected one of '
                             f'{sorted(PIL_RESAMPLE)}')
        for name, prob in (('jitter_prob', jitter_prob), ('grayscale_prob', grayscale_prob),
                           ('blur_prob', blur_prob), ('solarize_prob', solarize_prob),
                           ('flip_prob', flip_prob)):
            if prob is not None and not 0.0 <= prob <= 1.0:
                raise ValueError(f'{name}={prob}: expected a probability in [0, 1] or None')
        if len(grayscale_weights) != 3:
            raise ValueError(f'grayscale_weights={grayscale_weights}: expected 3 (BGR)')
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)
        self.interpolation = interpolation
        self.jitter = jitter_ranges(color_jitter) if color_jitter is not None else None
        self.jitter_prob = jitter_prob
        self.grayscale_prob, self.grayscale_weights = grayscale_prob, tuple(grayscale_weights)
        self.blur_prob, self.blur_sigma = blur_prob, tuple(blur_sigma)
        self.solarize_prob, self.solarize_threshold = solarize_prob, solarize_threshold
        self.flip_prob = flip_prob

    def transform(self, results: Dict) -> Dict:
        img = check_bgr(results['img'], results, type(self).__name__)
        top, left, h, w = sample_crop_box(*img.shape[:2], self.scale, self.ratio,
                                          two_pic=False)
        view = bgr_to_pil(img[top:top + h, left:left + w]).resize(
            (self.size, self.size), PIL_RESAMPLE[self.interpolation])
        if self.jitter is not None and np.random.rand() < self.jitter_prob:
            view = jitter_pil(view, sample_jitter(self.jitter))
        if self.grayscale_prob is not None and random.random() < self.grayscale_prob:
            view = grey_view(view, self.grayscale_weights)
        if self.blur_prob is not None and not np.random.rand() > self.blur_prob:
            low, high = self.blur_sigma  # magnitude U(0, 10) of 10 levels -> sigma
            view = view.filter(ImageFilter.GaussianBlur(
                np.random.uniform(0, 10) / 10 * (high - low) + low))
        if self.solarize_prob is not None and not np.random.rand() > self.solarize_prob:
            view = view.point(solarize_table(self.solarize_threshold))
        flip = self.flip_prob is not None and np.random.choice(
            [True, False], p=[self.flip_prob, 1. - self.flip_prob])
        if flip:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        results['img'] = pil_to_bgr(view)
        results['img_shape'] = (self.size, self.size)
        results['flip'], results['flip_direction'] = bool(flip), 'horizontal' if flip else None
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale={self.scale}, '
                f'interpolation={self.interpolation}, jitter={self.jitter} '
                f'p={self.jitter_prob}, grayscale={self.grayscale_prob}, '
                f'blur={self.blur_prob} sigma={self.blur_sigma}, '
                f'solarize={self.solarize_prob}, flip={self.flip_prob})')
