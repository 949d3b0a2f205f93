"""JitterFlipTwoPicResizedCrop and PackUint8Inputs: mmpretrain's BEiT pipeline, bit for bit.

With the same seed the fused transform draws the same numbers as mmpretrain's ColorJitter ->
RandomFlip -> RandomResizedCropAndInterpolationWithTwoPic and returns identical views; the crop
boxes follow the recipe's law (area fraction uniform in ``scale``, log-uniform aspect).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import default_collate
from mmpretrain.datasets.transforms import (
    PackInputs,
    RandomResizedCrop,
    RandomResizedCropAndInterpolationWithTwoPic,
)
from scipy import stats

from mmbeit.datasets.transforms import JitterFlipTwoPicResizedCrop, PackUint8Inputs
from mmbeit.datasets.transforms.crop_boxes import sample_crop_box

from .photos import decoded_photos

JITTER = dict(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0)
RECIPES = {  # BEiT v1 (dVAE 112 lanczos), BEiT v2 (VQ-KD 224 bicubic), random interpolation
    'beit': dict(size=224, second_size=112, interpolation='bicubic',
                 second_interpolation='lanczos', scale=(0.08, 1.0)),
    'beitv2': dict(size=224, second_size=224, interpolation='bicubic',
                   second_interpolation='bicubic', scale=(0.2, 1.0)),
    'random': dict(size=96, second_size=None, interpolation='random', scale=(0.08, 1.0)),
}


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    return decoded_photos(tmp_path_factory.mktemp('photos'), 8)


def _mmpretrain(recipe, jitter=JITTER, flip_prob=0.5):
    steps = [dict(type='ColorJitter', **jitter)] if jitter else []
    if flip_prob:
        steps.append(dict(type='RandomFlip', prob=flip_prob, direction='horizontal'))
    crop = dict(recipe)
    if crop['second_size'] is None:
        crop.pop('second_interpolation', None)
    steps.append(RandomResizedCropAndInterpolationWithTwoPic(**crop))
    from mmpretrain.registry import TRANSFORMS
    return Compose([TRANSFORMS.build(s) if isinstance(s, dict) else s for s in steps])


def _views(results):
    img = results['img']
    return img if isinstance(img, list) else [img]


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_seeded_views_equal_mmpretrains_three_transforms(photos, name):
    jitter = dict(JITTER, hue=0.1) if name == 'random' else JITTER
    ours = JitterFlipTwoPicResizedCrop(**RECIPES[name], color_jitter=jitter, flip_prob=0.5)
    ref = _mmpretrain(RECIPES[name], jitter)
    flips = []
    for seed in range(40):
        img = photos[seed % len(photos)]
        np.random.seed(seed)
        expected = ref(dict(img=img))
        np.random.seed(seed)
        got = ours(dict(img=img))
        assert len(_views(got)) == len(_views(expected))
        for a, b in zip(_views(got), _views(expected)):
            assert a.dtype == np.uint8 and np.array_equal(a, b), (name, seed)
        assert got['flip'] == expected['flip'] and got['img_shape'] == _views(got)[0].shape[:2]
        after_ours = np.random.rand()  # both consumed the same numbers
        np.random.seed(seed)
        ref(dict(img=img))
        assert np.random.rand() == after_ours
        flips.append(got['flip'])
    assert 0 < sum(flips) < len(flips)


def test_without_jitter_or_flip_it_is_the_crop_alone(photos):
    ours = JitterFlipTwoPicResizedCrop(**RECIPES['beit'], color_jitter=None, flip_prob=0.0)
    ref = _mmpretrain(RECIPES['beit'], jitter=None, flip_prob=0.0)
    for seed in range(8):
        np.random.seed(seed)
        expected = _views(ref(dict(img=photos[seed])))
        np.random.seed(seed)
        got = _views(ours(dict(img=photos[seed])))
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_crop_boxes_equal_mmpretrains_over_thousands_of_draws():
    two_pic = RandomResizedCropAndInterpolationWithTwoPic(size=224, scale=(0.2, 1.0))
    rrc = RandomResizedCrop(scale=224, crop_ratio_range=(0.08, 1.0))
    for shape in ((375, 500), (500, 333), (64, 900)):  # the last one falls back often
        img = np.zeros((*shape, 1), np.uint8)
        np.random.seed(shape[0])
        expected = [two_pic.get_params(img, (0.2, 1.0), (3 / 4, 4 / 3)) for _ in range(1500)]
        expected += [rrc.rand_crop_params(img)
                     for _ in range(1500)]
        np.random.seed(shape[0])
        got = [sample_crop_box(*shape, (0.2, 1.0), (3 / 4, 4 / 3), two_pic=True)
               for _ in range(1500)]
        got += [sample_crop_box(*shape, (0.08, 1.0), (3 / 4, 4 / 3), two_pic=False)
                for _ in range(1500)]
        assert [tuple(map(int, b)) for b in got] == [tuple(map(int, b)) for b in expected]


def test_crop_box_law_area_uniform_and_aspect_log_uniform():
    """The recipe's law, independent of mmpretrain: where no box is rejected (a square image,
    area at most half of it) the area fraction is U(scale), the log aspect ratio
    U(log 3/4, log 4/3) and the offset uniform."""
    np.random.seed(0)
    boxes = np.array([sample_crop_box(3000, 3000, (0.05, 0.5), (3 / 4, 4 / 3), True)
                      for _ in range(4000)])
    area = boxes[:, 2] * boxes[:, 3] / 3000 ** 2
    log_aspect = np.log(boxes[:, 3] / boxes[:, 2])
    assert stats.kstest(area, stats.uniform(0.05, 0.45).cdf).pvalue > 1e-3
    low, high = math.log(3 / 4), math.log(4 / 3)
    assert stats.kstest(log_aspect, stats.uniform(low, high - low).cdf).pvalue > 1e-3
    offsets = boxes[:, 0] / np.maximum(3000 - boxes[:, 2], 1)  # top uniform in its range
    assert stats.kstest(offsets, stats.uniform(0, 1).cdf).pvalue > 1e-3


def test_bad_arguments_name_what_is_expected():
    with pytest.raises(ValueError, match="interpolation='cubic'"):
        JitterFlipTwoPicResizedCrop(224, interpolation='cubic')
    with pytest.raises(KeyError, match='gamma'):
        JitterFlipTwoPicResizedCrop(224, color_jitter=dict(gamma=0.2))
    with pytest.raises(ValueError, match='brightness=-0.1'):
        JitterFlipTwoPicResizedCrop(224, color_jitter=dict(brightness=-0.1))
    with pytest.raises(ValueError, match='flip_prob'):
        JitterFlipTwoPicResizedCrop(224, flip_prob=1.5)


def test_pack_uint8_inputs_are_chw_views_that_collate_to_pack_inputs(photos):
    ours = JitterFlipTwoPicResizedCrop(**RECIPES['beitv2'], color_jitter=JITTER)
    samples = []
    for seed in range(3):
        np.random.seed(seed)
        results = ours(dict(img=photos[seed]))
        results['mask'] = np.zeros((14, 14), bool)
        packed, ref = PackUint8Inputs()(dict(results)), PackInputs()(dict(results))
        for view, expected in zip(packed['inputs'], ref['inputs']):
            assert view.dtype == torch.uint8 and view.shape == (3, 224, 224)
            assert torch.equal(view, expected)
        samples.append(packed)
    batch = default_collate(samples)
    assert batch['inputs'][0].shape == (3, 3, 224, 224) and batch['inputs'][0].is_contiguous()


@pytest.mark.parametrize('img', [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8),
                                 np.zeros((8, 8, 3), np.float32), np.zeros((0, 8, 3), np.uint8)])
def test_a_non_bgr_image_is_an_error_naming_the_file(img):
    from mmbeit.datasets.transforms import ResizedCropView
    for transform in (JitterFlipTwoPicResizedCrop(32), ResizedCropView(32)):
        with pytest.raises(ValueError, match=r'photo\.png is a .*expected a \(H, W, 3\) uint8'):
            transform(dict(img=img, img_path='data/photo.png'))
