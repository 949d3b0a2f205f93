"""ResizedCropView: mmpretrain's MoCo v3 / VQ-KD / dVAE view pipelines, seeded, bit for bit."""
from __future__ import annotations

import random

import numpy as np
import pytest
from mmcv.transforms import Compose, RandomGrayscale
from mmengine.registry import init_default_scope
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS

from mmbeit.datasets.transforms import ResizedCropView
from mmbeit.datasets.transforms.pil_colour import bgr_to_pil, pil_to_bgr
from mmbeit.datasets.transforms.resized_crop_view import grey_view

from .photos import decoded_photos

MOCOV3_JITTER = dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)


def _mocov3_view(blur_prob, solarize_prob, size=224, scale=(0.08, 1.0)):
    """mmpretrain's MoCo v3 view (the official recipe's augmentation), as its transforms."""
    return [
        dict(type='RandomResizedCrop', scale=size, crop_ratio_range=scale, backend='pillow'),
        dict(type='RandomApply', prob=0.8, transforms=[dict(type='ColorJitter', **MOCOV3_JITTER)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
             prob=blur_prob),
        dict(type='Solarize', thr=128, prob=solarize_prob),
        dict(type='RandomFlip', prob=0.5)]


CASES = {
    'mocov3_view1': (_mocov3_view(1.0, 0.0), dict(
        size=224, color_jitter=MOCOV3_JITTER, jitter_prob=0.8, grayscale_prob=0.2,
        blur_prob=1.0, solarize_prob=0.0, flip_prob=0.5)),
    'mocov3_view2': (_mocov3_view(0.1, 0.2), dict(
        size=224, color_jitter=MOCOV3_JITTER, jitter_prob=0.8, grayscale_prob=0.2,
        blur_prob=0.1, solarize_prob=0.2, flip_prob=0.5)),
    'vqkd': ([dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
                   backend='pillow', interpolation='bicubic'),
              dict(type='RandomFlip', prob=0.5, direction='horizontal')],
             dict(size=224, interpolation='bicubic', flip_prob=0.5)),
    'dvae': ([dict(type='RandomResizedCrop', scale=256, crop_ratio_range=(0.35, 1.0),
                   backend='pillow', interpolation='bicubic'),
              dict(type='RandomFlip', prob=0.5, direction='horizontal')],
             dict(size=256, scale=(0.35, 1.0), interpolation='bicubic', flip_prob=0.5)),
    'digits_mocov3': ([
        dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.4, 1.0), backend='pillow'),
        dict(type='RandomApply', prob=0.8,
             transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4)]),
        dict(type='GaussianBlur', magnitude_range=(0.1, 0.8), magnitude_std='inf', prob=0.2)],
        dict(size=32, scale=(0.4, 1.0), color_jitter=dict(brightness=0.4, contrast=0.4),
             jitter_prob=0.8, blur_prob=0.2, blur_sigma=(0.1, 0.8))),
}


@pytest.fixture(scope='module', autouse=True)
def _scope():
    init_default_scope('mmpretrain')  # RandomApply builds its inner ColorJitter by scope


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    return decoded_photos(tmp_path_factory.mktemp('photos'), 8)


@pytest.mark.parametrize('name', sorted(CASES))
def test_seeded_view_equals_mmpretrains_transforms(photos, name):
    steps, kwargs = CASES[name]
    ref = Compose([MMPRETRAIN_TRANSFORMS.build(s) for s in steps])
    ours = ResizedCropView(**kwargs)
    for seed in range(30):
        img = photos[seed % len(photos)]
        np.random.seed(seed)
        random.seed(seed)
        expected = ref(dict(img=img))['img']
        after_ref = (np.random.rand(), random.random())
        np.random.seed(seed)
        random.seed(seed)
        got = ours(dict(img=img))
        assert got['img'].dtype == np.uint8 and np.array_equal(got['img'], expected), seed
        assert (np.random.rand(), random.random()) == after_ref  # the same numbers drawn
        assert got['img_shape'] == expected.shape[:2]


def test_grey_view_equals_mmcv_random_grayscale_on_a_million_colours():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    expected = RandomGrayscale(prob=1.0, keep_channels=True,
                               channel_weights=(0.114, 0.587, 0.2989))(dict(img=img))['img']
    got = pil_to_bgr(grey_view(bgr_to_pil(img), (0.114, 0.587, 0.2989)))
    assert np.array_equal(got, expected)


def test_bad_arguments_name_what_is_expected():
    with pytest.raises(ValueError, match="interpolation='area'"):
        ResizedCropView(interpolation='area')
    with pytest.raises(ValueError, match='blur_prob=2'):
        ResizedCropView(blur_prob=2)
    with pytest.raises(ValueError, match='grayscale_weights'):
        ResizedCropView(grayscale_weights=(1.0, 1.0))
