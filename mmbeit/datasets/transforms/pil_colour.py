"""mmpretrain's ``ColorJitter`` (pillow backend) bit for bit, on the pixels a later crop keeps.

mmpretrain runs ``ImageEnhance.Brightness / Contrast / Color`` and a hue shift through PIL's
HSV mode on the whole decoded image, each time through ``Image.fromarray(img[..., ::-1])`` (a
strided copy that costs more than the operation). Every one of them is a per-pixel map except
contrast, which blends with the grey mean of the whole image. So:

- operations after the last contrast step run on the crop alone (exact: a per-pixel map
  commutes with cropping); those up to it run on the whole image;
- brightness and contrast are 256-entry tables (PIL's blend with a constant image), composed
  while consecutive and applied with one ``Image.point``;
- the image enters Pillow once and leaves once, with the raw ``BGR`` codec (no numpy
  channel reversal copies).

PIL's blend (``Image.blend(degenerate, image, factor)``) computes in float32,
``float(d) + float32(factor) * (x - d)``, clips to ``[0, 255]`` and truncates; ``_blend_table``
reproduces exactly that (tests compare with Pillow and mmpretrain). Arrays are (H, W, 3) uint8
BGR, as ``LoadImageFromFile`` gives them.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageEnhance
from PIL.Image import ImagePointHandler

ColourOp = Tuple[str, float]  # ('brightness' | 'contrast' | 'saturation' | 'hue', factor)
Box = Tuple[int, int, int, int]  # (top, left, height, width)
OP_NAMES = ('brightness', 'contrast', 'saturation', 'hue')  # mmpretrain's index order
_LEVELS = np.arange(256, dtype=np.float32)


def check_bgr(img, results: dict, transform: str) -> np.ndarray:
    """``img`` if it is a (H, W, 3) uint8 array (``LoadImageFromFile``'s colour output), else a
    ValueError naming the file, the shape / dtype and what is expected."""
    if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3
            and img.dtype == np.uint8 and img.shape[0] > 0 and img.shape[1] > 0):
        desc = (f'{img.dtype} array of shape {img.shape}' if isinstance(img, np.ndarray)
                else type(img).__name__)
        raise ValueError(f'{transform}: {results.get("img_path", "results[img]")} is a {desc}; '
                         'expected a (H, W, 3) uint8 BGR image (LoadImageFromFile with '
                         "color_type='color')")
    return img


def bgr_to_pil(bgr: np.ndarray) -> Image.Image:
    """An RGB PIL image of a (H, W, 3) uint8 BGR array (one C copy)."""
    bgr = np.ascontiguousarray(bgr)
    return Image.frombuffer('RGB', (bgr.shape[1], bgr.shape[0]), bgr, 'raw', 'BGR', 0, 1)


def pil_to_bgr(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 BGR array of an RGB PIL image (one C copy)."""
    width, height = image.size
    return np.frombuffer(image.tobytes('raw', 'BGR'), np.uint8).reshape(height, width, 3)


def blend_table(degenerate: int, factor: float) -> np.ndarray:
    """(256,) uint8: PIL's blend of a constant ``degenerate`` level with each level 0..255."""
    out = np.float32(degenerate) + np.float32(factor) * (_LEVELS - np.float32(degenerate))
    return np.clip(out, 0, 255).astype(np.uint8)


def grey_mean(image: Image.Image) -> int:
    """The level ``ImageEnhance.Contrast`` blends with: ``int(mean(L) + 0.5)``."""
    grey = np.asarray(image.convert('L'))
    return int(float(grey.sum(dtype=np.int64)) / grey.size + 0.5)


def hue_table(factor: float) -> List[int]:
    """mmcv's pillow ``adjust_hue`` adds ``np.uint8(factor * 255)`` to H, wrapping; under
    numpy 1 a negative value wraps too, i.e. the shift is ``int(factor * 255) mod 256``."""
    shift = int(factor * 255) % 256
    return [(level + shift) % 256 for level in range(256)]


def shift_hue(image: Image.Image, factor: float) -> Image.Image:
    """Hue shift of an RGB PIL image through PIL's HSV mode (mmcv's pillow path)."""
    h, s, v = image.convert('HSV').split()
    return Image.merge('HSV', (h.point(hue_table(factor)), s, v)).convert('RGB')


def sample_jitter(ranges: Sequence[Optional[Tuple[float, float]]]) -> List[ColourOp]:
    """Draw mmpretrain ``ColorJitter``'s parameters in its order from ``np.random``.

    ``ranges`` are the (low, high) factor ranges of brightness, contrast, saturation, hue
    (None = off). A permutation of the four comes first, then the enabled factors; returns
    the enabled operations in the order they apply.
    """
    order = np.random.permutation(4)
    factors = [None if r is None else float(np.random.uniform(r[0], r[1])) for r in ranges]
    return [(OP_NAMES[i], factors[i]) for i in order if factors[i] is not None]


class _Table(ImagePointHandler):
    """A 256-entry uint8 table for ``Image.point``, handed to Pillow's C ``point`` as it is
    (``Image.point`` would otherwise re-round 768 entries in Python on every call)."""

    def __init__(self, table: np.ndarray) -> None:
        self.flat = table.tolist() * 3

    def point(self, image: Image.Image) -> Image.Image:
        return image._new(image.im.point(self.flat, None))


class _Pending:
    """A PIL image with brightness / contrast tables still to apply (composed)."""

    def __init__(self, image: Image.Image) -> None:
        self.image, self.table = image, None

    def add_table(self, table: np.ndarray) -> None:
        self.table = table if self.table is None else table[self.table]

    def flushed(self) -> Image.Image:
        if self.table is not None:
            self.image, self.table = self.image.point(_Table(self.table)), None
        return self.image


def _last_contrast(ops: Sequence[ColourOp]) -> int:
    return max((k for k, (name, _) in enumerate(ops) if name == 'contrast'), default=-1)


def jitter_pil(image: Image.Image, ops: Sequence[ColourOp],
               box: Optional[Box] = None) -> Image.Image:
    """``ops`` applied in turn to the RGB PIL ``image``, then ``box`` cut out (the cut is made
    right after the last contrast step: later steps are per pixel)."""
    last_contrast = _last_contrast(ops)
    state = _Pending(image)
    for k, (name, factor) in enumerate(ops):
        if k == last_contrast + 1 and box is not None:
            state.image, box = _cut(state.image, box), None
        if name == 'brightness':
            state.add_table(blend_table(0, factor))
        elif name == 'contrast':
            probe = state.image if state.table is None else state.image.point(
                _Table(state.table))
            state.add_table(blend_table(grey_mean(probe), factor))
        elif name == 'saturation':
            state.image = ImageEnhance.Color(state.flushed()).enhance(factor)
        else:
            state.image = shift_hue(state.flushed(), factor)
    if box is not None:
        state.image = _cut(state.image, box)
    return state.flushed()


def _cut(image: Image.Image, box: Box) -> Image.Image:
    top, left, height, width = box
    return image.crop((left, top, left + width, top + height))


def jitter_crop(full: np.ndarray, ops: Sequence[ColourOp], box: Optional[Box] = None,
                as_pil: bool = False):
    """``ops`` applied in turn to the whole (H, W, 3) uint8 BGR ``full``, then ``box`` cut out.

    Bit-identical to mmpretrain's ``ColorJitter`` (pillow) followed by the crop; only the
    operations up to the last contrast step touch the whole image (none without contrast).
    Returns a BGR array, or the RGB PIL image when ``as_pil``.
    """
    if box is not None and _last_contrast(ops) < 0:
        top, left, height, width = box
        image = jitter_pil(bgr_to_pil(full[top:top + height, left:left + width]), ops)
    else:
        image = jitter_pil(bgr_to_pil(full), ops, box)
    return image if as_pil else pil_to_bgr(image)
