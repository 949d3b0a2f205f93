"""pil_colour: mmpretrain's Pillow colour jitter, bit for bit, computed on the crop.

References: Pillow's ImageEnhance itself, torchvision.transforms.v2.functional (its Pillow path
exactly, its float tensor path within one level) and mmpretrain's ColorJitter (seeded).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from mmpretrain.datasets.transforms import ColorJitter
from PIL import Image, ImageEnhance

from mmbeit.datasets.transforms import pil_colour
from mmbeit.datasets.transforms.pil_colour import (
    bgr_to_pil,
    blend_table,
    jitter_crop,
    pil_to_bgr,
    sample_jitter,
)

from .photos import decoded_photos

BOX = (37, 51, 190, 260)  # top, left, h, w
TORCHVISION_PIL = dict(brightness=TF.adjust_brightness, contrast=TF.adjust_contrast,
                       saturation=TF.adjust_saturation, hue=TF.adjust_hue)


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    return decoded_photos(tmp_path_factory.mktemp('photos'), 6)


def _crop(img, box=BOX):
    top, left, h, w = box
    return img[top:top + h, left:left + w]


def _torchvision_pil(bgr, ops):
    """The operations in turn on the whole image with torchvision's Pillow functional."""
    image = bgr_to_pil(bgr)
    for name, factor in ops:
        image = TORCHVISION_PIL[name](image, factor)
    return pil_to_bgr(image)


@pytest.mark.parametrize('factor', [0.0, 0.37, 0.6, 0.999, 1.0, 1.2345, 1.4, 3.0])
def test_blend_table_is_pillows_blend_on_every_level(factor):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ramp = Image.fromarray(np.stack([levels, levels[::-1], levels.T], -1))
    for degenerate in (0, 1, 97, 128, 255):
        flat = Image.new('RGB', ramp.size, (degenerate,) * 3)
        expected = np.asarray(Image.blend(flat, ramp, factor))
        assert np.array_equal(blend_table(degenerate, factor)[np.asarray(ramp)], expected)


def test_every_order_of_the_four_operations_equals_torchvisions_pillow_path(photos):
    rng = np.random.default_rng(0)
    names = ('brightness', 'contrast', 'saturation', 'hue')
    for k, order in enumerate(itertools.permutations(names)):
        factors = dict(brightness=rng.uniform(0.6, 1.4), contrast=rng.uniform(0.6, 1.4),
                       saturation=rng.uniform(0.6, 1.4), hue=rng.uniform(-0.1, 0.1))
        for count in (1, 2, 4):  # prefixes: a contrast step first, last, or absent
            ops = [(name, factors[name]) for name in order[:count]]
            img = photos[k % len(photos)]
            expected = _crop(_torchvision_pil(img, ops))
            assert np.array_equal(jitter_crop(img, ops, BOX), expected), ops


def test_whole_image_without_a_box(photos):
    ops = [('saturation', 1.3), ('contrast', 0.7), ('brightness', 1.2)]
    assert np.array_equal(jitter_crop(photos[0], ops), _torchvision_pil(photos[0], ops))


def test_contrast_after_brightness_uses_the_brightened_mean(photos):
    """Composing the tables must not take the mean of the image before brightness."""
    img = photos[1]
    ops = [('brightness', 1.4), ('contrast', 0.6)]
    image = ImageEnhance.Contrast(ImageEnhance.Brightness(bgr_to_pil(img)).enhance(1.4))
    expected = _crop(pil_to_bgr(image.enhance(0.6)))
    assert np.array_equal(jitter_crop(img, ops, BOX), expected)
    wrong_mean = blend_table(pil_colour.grey_mean(bgr_to_pil(img)), 0.6)[
        blend_table(0, 1.4)[_crop(img)]]
    assert not np.array_equal(wrong_mean, expected)  # the test can tell the two apart


@pytest.mark.parametrize('name,factor', [('brightness', 0.65), ('brightness', 1.37),
                                         ('contrast', 0.62), ('contrast', 1.33),
                                         ('saturation', 0.7), ('saturation', 1.38)])
def test_torchvisions_float_tensor_path_within_one_level(photos, name, factor):
    img = photos[2]
    tensor = torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)
    expected = getattr(TF, f'adjust_{name}')(tensor, factor).permute(1, 2, 0).numpy()[..., ::-1]
    ours = jitter_crop(img, [(name, factor)])
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1


def test_seeded_draws_and_output_equal_mmpretrains_color_jitter(photos):
    ref = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    ranges = (ref.brightness, ref.contrast, ref.saturation, ref.hue)
    for seed in range(24):
        img = photos[seed % len(photos)]
        np.random.seed(seed)
        expected = ref(dict(img=img.copy()))['img']
        np.random.seed(seed)
        ops = sample_jitter(ranges)
        assert np.array_equal(jitter_crop(img, ops, BOX), _crop(expected)), (seed, ops)
        assert [name for name, _ in ops] != []


def test_hue_shift_wraps_like_mmcv_under_numpy_1():
    assert pil_colour.hue_table(-0.05)[:2] == [244, 245]  # int(-12.75) = -12 -> 244
    assert pil_colour.hue_table(0.1)[250:252] == [19, 20]  # int(25.5) = 25 added, wrapping
