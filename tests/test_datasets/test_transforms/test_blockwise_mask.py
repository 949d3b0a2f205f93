"""BlockwiseMaskGenerator: BEiT's block-wise masking, checked against a per-cell reference."""
from __future__ import annotations

import math
import random
import time
from typing import List, Optional, Tuple

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from mmbeit.datasets.transforms import BlockwiseMaskGenerator
from mmbeit.datasets.transforms import blockwise_mask as blockwise_mask_module
from mmbeit.registry import TRANSFORMS

Block = Tuple[int, int, int, int, int]  # top, left, h, w, newly covered cells


def reference_block_mask(grid: Tuple[int, int], num_masking_patches: int = 75,
                         min_num_patches: int = 16, max_num_patches: Optional[int] = None,
                         min_aspect: float = 0.3, mode: str = 'exact',
                         rnd: Optional[random.Random] = None) -> Tuple[np.ndarray, List[Block]]:
    """The straightforward BEiT loop (as in the unilm release): one mask, per-cell painting.

    Returns the (H, W) 0/1 mask and the accepted blocks.
    """
    rnd = rnd or random.Random()
    height, width = grid
    max_num_patches = max_num_patches or num_masking_patches
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    mask = np.zeros((height, width), dtype=np.int64)
    blocks: List[Block] = []
    count = 0
    while count < num_masking_patches:
        cap = min(num_masking_patches - count, max_num_patches)
        delta = 0
        for _ in range(10):
            area = rnd.uniform(min_num_patches, cap)
            aspect = math.exp(rnd.uniform(*log_aspect))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if h < height and w < width:
                top = rnd.randint(0, height - h)
                left = rnd.randint(0, width - w)
                covered = mask[top:top + h, left:left + w].sum()
                if 0 < h * w - covered <= cap:
                    for i in range(top, top + h):
                        for j in range(left, left + w):
                            if mask[i, j] == 0:
                                mask[i, j] = 1
                                delta += 1
                    blocks.append((top, left, h, w, delta))
            if delta > 0:
                break
        if delta == 0:
            break
        count += delta
    if mode == 'exact' and count < num_masking_patches:
        free = [(i, j) for i in range(height) for j in range(width) if mask[i, j] == 0]
        for i, j in rnd.sample(free, num_masking_patches - count):
            mask[i, j] = 1
    return mask, blocks


def _reference_samples(grid, budget, num, seed, mode='v1', **kw):
    rnd = random.Random(seed)
    masks, blocks, owners = [], [], []
    for k in range(num):
        mask, bl = reference_block_mask(grid, budget, mode=mode, rnd=rnd, **kw)
        masks.append(mask)
        blocks += bl
        owners += [k] * len(bl)
    table = np.array(blocks).reshape(-1, 5).T
    return np.stack(masks).astype(bool), dict(
        zip(('top', 'left', 'h', 'w', 'new'), table), index=np.array(owners))


def _histogram(values, bins):
    return np.bincount(values, minlength=bins)[:bins] / len(values)


def _assert_means_close(a, b, name, sigmas=5.0):
    a, b = np.asarray(a, float), np.asarray(b, float)
    se = math.sqrt(a.var() / len(a) + b.var() / len(b)) + 1e-12
    assert abs(a.mean() - b.mean()) < sigmas * se, (
        f'{name}: mmbeit {a.mean():.4f} vs reference {b.mean():.4f} (se {se:.4f})')


@pytest.mark.parametrize('grid,budget', [((8, 8), 26), ((14, 14), 75), ((16, 16), 118)])
def test_block_and_mask_statistics_match_reference(grid, budget):
    num = 2500
    ref_masks, ref_blocks = _reference_samples(grid, budget, num, seed=1)
    gen = BlockwiseMaskGenerator(grid, budget, mode='v1', rng=2)
    masks, blocks = gen.generate(num, return_blocks=True)
    for key in ('h', 'w', 'new'):
        _assert_means_close(blocks[key], ref_blocks[key], f'block {key}')
    _assert_means_close(np.log(blocks['h'] / blocks['w']),
                        np.log(ref_blocks['h'] / ref_blocks['w']), 'block log-aspect')
    # whole distributions, not only means: block height, blocks per mask, masked count
    tv = 0.5 * np.abs(_histogram(blocks['h'], grid[0]) - _histogram(ref_blocks['h'], grid[0]))
    assert tv.sum() < 0.04, f'block-height distributions differ (TV {tv.sum():.3f})'
    per_mask = np.bincount(blocks['index'], minlength=num)
    ref_per_mask = np.bincount(ref_blocks['index'], minlength=num)
    tv = 0.5 * np.abs(_histogram(per_mask, 30) - _histogram(ref_per_mask, 30)).sum()
    assert tv < 0.05, f'blocks-per-mask distributions differ (TV {tv:.3f})'
    counts, ref_counts = masks.sum((1, 2)), ref_masks.sum((1, 2))
    _assert_means_close(counts, ref_counts, 'v1 masked count')
    _assert_means_close(counts == budget, ref_counts == budget, 'P(v1 reaches the budget)')
    # where cells get masked: row / column profiles (catches e.g. a never-masked last row)
    for axis, name in ((2, 'row'), (1, 'column')):
        diff = np.abs(masks.mean(axis).mean(0) - ref_masks.mean(axis).mean(0))
        assert diff.max() < 0.03, f'{name} masking profile differs by {diff.max():.3f}'


def test_last_row_and_column_are_masked_like_the_first():
    """Blocks start anywhere in [0, H - h] (inclusive); mmpretrain 1.2's generator draws the
    top-left with an exclusive bound and so never masks the last row or column."""
    masks = BlockwiseMaskGenerator(14, 75, mode='v1', rng=6).generate(3000)
    rows, cols = masks.mean((0, 2)), masks.mean((0, 1))
    assert rows[-1] > 0.1 and cols[-1] > 0.1
    assert abs(rows[-1] - rows[0]) < 0.02 and abs(cols[-1] - cols[0]) < 0.02


@pytest.mark.parametrize('grid,budget,min_patches', [
    ((8, 8), 26, 16), ((14, 14), 75, 16), ((16, 16), 118, 16), ((7, 20), 50, 4),
    ((5, 70), 200, 16), ((14, 14), 196, 16), ((2, 2), 1, 1)])
def test_exact_mode_masks_exactly_the_budget_on_any_grid(grid, budget, min_patches):
    gen = BlockwiseMaskGenerator(grid, budget, min_num_patches=min_patches, rng=0)
    masks = gen.generate(400)
    assert masks.dtype == np.bool_ and masks.shape == (400, *grid)
    assert (masks.sum((1, 2)) == budget).all()


def test_exact_mode_top_up_is_uniform_over_free_cells():
    # a budget only a few blocks reach: the top-up decides many cells; compare with reference
    grid, budget, num = (8, 8), 40, 2000
    masks = BlockwiseMaskGenerator(grid, budget, rng=3).generate(num)
    ref = np.stack([reference_block_mask(grid, budget, rnd=random.Random(10 + i))[0]
                    for i in range(num)])
    assert np.abs(masks.mean(0) - ref.mean(0)).max() < 0.06


@pytest.mark.parametrize('grid,budget', [((14, 14), 75), ((5, 70), 120)])
def test_v1_blocks_lie_inside_grid_and_make_up_the_mask(grid, budget):
    height, width = grid
    gen = BlockwiseMaskGenerator(grid, budget, mode='v1', rng=4)
    masks, blocks = gen.generate(500, return_blocks=True)
    counts = masks.sum((1, 2))
    assert (counts <= budget).all() and (counts < budget).any()  # v1 may fall short
    top, left, h, w = blocks['top'], blocks['left'], blocks['h'], blocks['w']
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= height).all() and (left + w <= width).all()
    assert (h < height).all() and (w < width).all() and (h >= 1).all() and (w >= 1).all()
    assert (blocks['new'] >= 1).all()
    painted = np.zeros_like(masks)
    for k, t, lft, hh, ww in zip(blocks['index'], top, left, h, w):
        painted[k, t:t + hh, lft:lft + ww] = True
    assert (painted == masks).all(), 'the v1 mask is not the union of its blocks'
    np.testing.assert_array_equal(np.bincount(blocks['index'], blocks['new'], len(masks)),
                                  counts)


def test_max_num_patches_caps_each_block():
    gen = BlockwiseMaskGenerator(14, 75, min_num_patches=4, max_num_patches=10, mode='v1',
                                 rng=5)
    _, blocks = gen.generate(300, return_blocks=True)
    assert blocks['new'].max() <= 10


def test_transform_output_registry_and_packing():
    pipeline = Compose([TRANSFORMS.build(t) for t in (
        dict(type='BlockwiseMaskGenerator', input_size=(14, 14), num_masking_patches=75),
        dict(type='PackInputs'))])
    gen = TRANSFORMS.build(dict(type='BlockwiseMaskGenerator', input_size=14))
    results = gen(dict(img=np.zeros((224, 224, 3), np.uint8)))
    assert results['mask'].shape == (14, 14) and results['mask'].dtype == np.bool_
    assert results['mask'].sum() == 75 and 'img' in results
    assert results['mask'].base is None  # its own memory, not a view of the batch
    assert 'num_masking_patches=75' in repr(gen)
    packed = pipeline(dict(img=np.zeros((224, 224, 3), np.uint8)))['data_samples'].mask
    assert packed.dtype == torch.bool and packed.shape == (14, 14) and packed.sum() == 75


def test_seeded_through_numpy_global_rng():
    def draw(seed):
        np.random.seed(seed)
        gen = BlockwiseMaskGenerator(14, 75, batch_size=8)
        return np.stack([gen(dict())['mask'] for _ in range(12)])  # crosses a refill

    np.testing.assert_array_equal(draw(0), draw(0))
    assert (draw(0) != draw(1)).any()
    a = BlockwiseMaskGenerator(14, 75, rng=7).generate(5)
    np.testing.assert_array_equal(a, BlockwiseMaskGenerator(14, 75, rng=7).generate(5))
    assert len({m.tobytes() for m in draw(0)}) == 12  # no repeats within or across batches


def test_new_process_redraws_its_own_batch(monkeypatch):
    """A dataloader worker (new pid) must not hand out masks buffered before the fork."""
    gen = BlockwiseMaskGenerator(14, 75, batch_size=16)
    gen(dict())
    np.random.seed(123)
    monkeypatch.setattr(blockwise_mask_module.os, 'getpid', lambda: -12345)
    in_worker = gen(dict())['mask']
    np.random.seed(123)
    fresh = BlockwiseMaskGenerator(14, 75, batch_size=16)(dict())['mask']
    np.testing.assert_array_equal(in_worker, fresh)


@pytest.mark.parametrize('kwargs,message', [
    (dict(input_size=14, num_masking_patches=197), r'num_masking_patches=197 must be in'),
    (dict(input_size=14, num_masking_patches=0), r'num_masking_patches=0'),
    (dict(input_size=14, num_masking_patches=10), r'min_num_patches=16 must be in'),
    (dict(input_size=14, max_num_patches=8), r'max_num_patches=8 is below'),
    (dict(input_size=(1, 14), num_masking_patches=4, min_num_patches=1), r'>= 2 patches'),
    (dict(input_size=14, min_aspect=0.0), r'min_aspect'),
    (dict(input_size=14, min_aspect=2.0, max_aspect=1.0), r'min_aspect <= max_aspect'),
    (dict(input_size=14, mode='v3'), r"mode 'v3'"),
    (dict(input_size=14, batch_size=0), r'batch_size'),
])
def test_rejects_impossible_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlockwiseMaskGenerator(**kwargs)


def test_faster_than_per_cell_reference():
    """Loose guard (CI machines are noisy); benchmarks/masking_speed.py measures the ratio."""
    rnd = random.Random(0)
    gen = BlockwiseMaskGenerator(14, 75, batch_size=4096)
    gen(dict())  # first batch
    start = time.perf_counter()
    for _ in range(300):
        reference_block_mask((14, 14), 75, rnd=rnd)
    ref_rate = 300 / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(8192):
        gen(dict())
    rate = 8192 / (time.perf_counter() - start)
    assert rate > 4 * ref_rate, f'{rate:.0f} masks/s vs reference {ref_rate:.0f}'
