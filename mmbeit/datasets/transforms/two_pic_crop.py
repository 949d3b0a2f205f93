"""BEiT's view pair in one step: colour jitter, flip and the two-pic resized crop, on the crop.

mmpretrain's BEiT / BEiT v2 pipelines run ``ColorJitter`` (Pillow) and ``RandomFlip`` on the
whole decoded image before ``RandomResizedCropAndInterpolationWithTwoPic`` keeps a part of it.
This transform draws the same random numbers in the same order and returns the same uint8
views, bit for bit (tests compare with mmpretrain), touching only the crop where that is exact:

- jitter per pixel on the crop (:func:`~.pil_colour.jitter_crop`; contrast takes the whole
  image's grey mean);
- flip: the crop box of the flipped image is the mirrored box of the original, so the crop is
  cut from the original and flipped;
- when both views have the same size and interpolation (BEiT v2: 224 / 224 bicubic) the view
  is resized once and returned twice.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmbeit.registry import TRANSFORMS

from .crop_boxes import sample_crop_box
from .pil_colour import check_bgr, jitter_crop, pil_to_bgr, sample_jitter

Range = Optional[Tuple[float, float]]
INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def jitter_range(value: Union[float, Sequence[float]], name: str, centre: float = 1.0,
                 bound: Tuple[float, float] = (0.0, float('inf'))) -> Range:
    """mmpretrain ``ColorJitter``'s factor range: ``x`` -> ``(centre - x, centre + x)`` clipped
    to ``bound``; ``None`` when it is the identity."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f'ColorJitter {name}={value}: a single number must be >= 0')
        value = (centre - float(value), centre + float(value))
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise TypeError(f'ColorJitter {name}={value!r}: expected a number or (low, high)')
    low, high = (float(np.clip(v, *bound)) for v in value)
    if low > high:
        raise ValueError(f'ColorJitter {name}={value!r}: low > high')
    return None if low == high == centre else (low, high)


def jitter_ranges(jitter: Optional[Dict]) -> Tuple[Range, Range, Range, Range]:
    """(brightness, contrast, saturation, hue) ranges of a ``ColorJitter`` config dict."""
    jitter = dict(jitter or {})
    unknown = set(jitter) - {'brightness', 'contrast', 'saturation', 'hue'}
    if unknown:
        raise KeyError(f'color_jitter: unknown keys {sorted(unknown)}; expected brightness, '
                       'contrast, saturation, hue')
    return (jitter_range(jitter.get('brightness', 0.0), 'brightness'),
            jitter_range(jitter.get('contrast', 0.0), 'contrast'),
            jitter_range(jitter.get('saturation', 0.0), 'saturation'),
            jitter_range(jitter.get('hue', 0.0), 'hue', centre=0.0, bound=(-0.5, 0.5)))


@TRANSFORMS.register_module()
class JitterFlipTwoPicResizedCrop(BaseTransform):
    """``ColorJitter`` -> ``RandomFlip`` -> ``RandomResizedCropAndInterpolationWithTwoPic``.

    Args:
        size (int): side of the first view (backbone input), e.g. 224.
        second_size (int, optional): side of the second view (tokenizer input: 112 for the
            DALL-E dVAE, 224 for VQ-KD); None returns one view.
        interpolation / second_interpolation (str): cv2 interpolations of the two views, as in
            mmpretrain; ``'random'`` picks bilinear or bicubic per image for the first.
        scale (tuple): crop area range (fraction of the image); ratio: aspect range.
        color_jitter (dict, optional): ``ColorJitter`` arguments (brightness, contrast,
            saturation, hue), applied as mmpretrain's Pillow backend does.
        flip_prob (float): probability of a horizontal flip (0: no flip, and no random draw,
            as without ``RandomFlip``).

    Writes ``img`` ((size, size, 3) uint8, or a list of the two views), ``img_shape``,
    ``flip`` and ``flip_direction``.
    """

    def __init__(self, size: int, second_size: Optional[int] = None,
                 interpolation: str = 'bilinear', second_interpolation: str = 'lanczos',
                 scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float, float] = (3. / 4., 4. / 3.),
                 color_jitter: Optional[Dict] = None, flip_prob: float = 0.5) -> None:
        for name, value in (('interpolation', interpolation),
                            ('second_interpolation', second_interpolation)):
            if value not in INTERPOLATIONS + ('random',):
                raise ValueError(f'{name}={value!r}: expected one of {INTERPOLATIONS} or '
                                 "'random'")
        if not 0.0 <= flip_prob <= 1.0:
            raise ValueError(f'flip_prob={flip_prob}: expected a probability in [0, 1]')
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError(f'scale={scale}, ratio={ratio}: expected (min, max) ranges')
        self.size, self.second_size = size, second_size
        self.interpolation, self.second_interpolation = interpolation, second_interpolation
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.jitter = jitter_ranges(color_jitter)
        self.flip_prob = flip_prob

    def transform(self, results: Dict) -> Dict:
        img = check_bgr(results['img'], results, type(self).__name__)
        ops = sample_jitter(self.jitter) if any(r is not None for r in self.jitter) else []
        # mmcv RandomFlip: np.random.choice(['horizontal', None], p=[prob, 1 - prob]); with
        # flip_prob=0 nothing is drawn, as in a pipeline without RandomFlip
        flip = self.flip_prob > 0 and np.random.choice(
            [True, False], p=[self.flip_prob, 1. - self.flip_prob])
        height, width = img.shape[:2]
        top, left, h, w = sample_crop_box(height, width, self.scale, self.ratio, two_pic=True)
        interpolation = self.interpolation
        if interpolation == 'random':
            interpolation = np.random.choice(('bilinear', 'bicubic'))
        if flip:  # the box of the flipped image, in the original
            left = width - left - w
        crop = jitter_crop(img, ops, (top, left, h, w), as_pil=True)
        if flip:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        crop = pil_to_bgr(crop)
        first = mmcv.imresize(crop, (self.size, self.size), interpolation=interpolation,
                              backend='cv2')
        if self.second_size is None:
            results['img'] = first
        elif (self.second_size, self.second_interpolation) == (self.size, interpolation):
            results['img'] = [first, first]
        else:
            results['img'] = [first, mmcv.imresize(
                crop, (self.second_size, self.second_size),
                interpolation=self.second_interpolation, backend='cv2')]
        results['img_shape'] = first.shape[:2]
        results['flip'], results['flip_direction'] = bool(flip), 'horizontal' if flip else None
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, second_size={self.second_size}, '
                f'interpolation={self.interpolation}, second_interpolation='
                f'{self.second_interpolation}, scale={self.scale}, ratio={self.ratio}, '
                f'jitter={self.jitter}, flip_prob={self.flip_prob})')
