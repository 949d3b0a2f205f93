"""BEiT block-wise masking, vectorised over many masks at once (same distribution, ~20x faster).

The algorithm is BEiT's (unilm ``masking_generator.py``): blocks of target area
``U(min_num_patches, remaining budget)`` and log-uniform aspect ratio are dropped at random
positions (overlap allowed, only newly covered cells count) until the budget is met or ten tries
in a row fail. Instead of running that loop mask by mask with per-cell Python, a pool of masks
advances one *try* per round in numpy: each grid row is a bit field (16 / 32 / 64-bit words), a
block comes from two small lookup tables, and its newly covered cells are
``popcount(block & ~rows)``. Each mask follows exactly the same random process as the
sequential loop (fresh independent uniforms for every try); only the order in which the random
numbers are drawn differs, and masks are returned in the order they were started.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mmbeit.registry import TRANSFORMS

MAX_TRIES = 10  # tries per block before the generator gives up (BEiT)
POOL_SIZE = 1024  # masks advanced together, one try each per round
MODES = ('exact', 'v1')

# popcount of every 16-bit value
_POPCOUNT16 = np.unpackbits(np.arange(65536, dtype='>u2').view(np.uint8)).reshape(-1, 16).sum(
    1).astype(np.int64)

RandomFn = Callable[[Tuple[int, ...]], np.ndarray]


def _word_layout(width: int) -> Tuple[int, np.dtype, int]:
    """Bits per word, word dtype and words per grid row for a grid ``width`` cells wide."""
    bits = 16 if width <= 16 else 32 if width <= 32 else 64
    return bits, np.dtype(f'uint{bits}'), (width + bits - 1) // bits


def _block_tables(grid: Tuple[int, int], bits: int, dtype: np.dtype,
                  num_words: int) -> Tuple[np.ndarray, np.ndarray]:
    """Lookup tables of every block: ``rows[top, h]`` (H,) 0/1 covered rows and
    ``cols[left, w]`` (words,) covered column bits; h = 0 / w = 0 give an empty block."""
    height, width = grid
    top = np.arange(height + 1)[:, None, None]
    h = np.arange(height + 1)[None, :, None]
    row = np.arange(height)
    rows = ((row >= top) & (row < top + h)).astype(dtype)  # (H+1, H+1, H)
    left = np.arange(width + 1)[:, None, None]
    w = np.arange(width + 1)[None, :, None]
    col = np.arange(num_words * bits)
    cells = ((col >= left) & (col < left + w)).reshape(width + 1, width + 1, num_words, bits)
    weights = np.left_shift(np.ones(bits, dtype), np.arange(bits, dtype=dtype))
    cols = (cells.astype(dtype) * weights).sum(-1, dtype=dtype)  # (W+1, W+1, words)
    return rows, cols


def _popcount_rows(x: np.ndarray, bits: int) -> np.ndarray:
    """(n, H, words) bit words -> (n,) number of set bits per mask."""
    x = x.reshape(len(x), -1)
    count = _POPCOUNT16[x.astype(np.intp)] if bits == 16 else 0
    if bits > 16:
        low16 = np.array(0xFFFF, x.dtype)
        for shift in range(0, bits, 16):
            count = count + _POPCOUNT16[((x >> np.array(shift, x.dtype)) & low16).astype(np.intp)]
    return count.sum(axis=1)


def sample_block_masks(num_masks: int, grid: Tuple[int, int], num_masking_patches: int,
                       min_num_patches: int, max_num_patches: int,
                       log_aspect: Tuple[float, float], mode: str, random: RandomFn,
                       return_blocks: bool = False
                       ) -> Union[np.ndarray, Tuple[np.ndarray, Dict[str, np.ndarray]]]:
    """Draw ``num_masks`` independent BEiT block-wise masks.

    A pool of up to ``POOL_SIZE`` masks advances one try per round; a finished mask's slot
    starts the next mask until ``num_masks`` have been started.

    Args:
        num_masks (int): K.
        grid (tuple[int, int]): patch grid (H, W).
        num_masking_patches (int): budget N.
        min_num_patches (int): smallest target area of a block.
        max_num_patches (int): most new cells one block may add.
        log_aspect (tuple[float, float]): log of the aspect (h / w) range.
        mode (str): 'exact' tops the mask up to exactly N random cells; 'v1' may stay below N.
        random (callable): ``random(shape) -> float64 array in [0, 1)``.
        return_blocks (bool): also return the accepted blocks (for statistics).

    Returns:
        (K, H, W) bool masks, and with ``return_blocks`` a dict of (M,) int arrays ``index``
        (which mask), ``top``, ``left``, ``h``, ``w``, ``new`` (cells it newly covered).
    """
    height, width = grid
    bits, dtype, num_words = _word_layout(width)
    row_table, col_table = _block_tables(grid, bits, dtype, num_words)
    out_rows = np.zeros((num_masks, height, num_words), dtype)
    out_count = np.zeros(num_masks, np.int64)
    pool = min(num_masks, POOL_SIZE)
    seq = np.arange(pool)  # which mask each slot is drawing
    started = pool
    rows = np.zeros((pool, height, num_words), dtype)
    count = np.zeros(pool, np.int64)
    failures = np.zeros(pool, np.int64)
    half_log_lo = log_aspect[0] / 2
    half_log_span = (log_aspect[1] - log_aspect[0]) / 2
    blocks = []
    while seq.size:
        u = random((4, seq.size))
        # most new cells this block may add (the reference's max_mask_patches)
        cap = np.minimum(num_masking_patches - count, max_num_patches)
        side = np.sqrt(min_num_patches + (cap - min_num_patches) * u[0])  # area ~ U(min, cap)
        sqrt_ratio = np.exp(half_log_lo + half_log_span * u[1])  # aspect log-uniform
        h = np.rint(side * sqrt_ratio).astype(np.int64)
        w = np.rint(side / sqrt_ratio).astype(np.int64)
        fits = (h < height) & (w < width)
        np.minimum(h, height, out=h)  # keep table lookups in range; such tries fail anyway
        np.minimum(w, width, out=w)
        top = (u[2] * (height + 1 - h)).astype(np.int64)  # uniform on [0, H - h]
        left = (u[3] * (width + 1 - w)).astype(np.int64)  # uniform on [0, W - w]
        block = row_table[top, h][:, :, None] * col_table[left, w][:, None, :]
        new = _popcount_rows(block & ~rows, bits)  # only newly covered cells count
        accepted = fits & (new > 0) & (new <= cap)
        rows |= block * accepted.astype(dtype)[:, None, None]
        count += np.where(accepted, new, 0)
        failures = np.where(accepted, 0, failures + 1)
        if return_blocks:
            blocks.append(np.stack([seq[accepted], top[accepted], left[accepted], h[accepted],
                                    w[accepted], new[accepted]]))
        done = np.flatnonzero((count >= num_masking_patches) | (failures >= MAX_TRIES))
        if done.size:
            out_rows[seq[done]] = rows[done]
            out_count[seq[done]] = count[done]
            restart = done[:num_masks - started]
            seq[restart] = np.arange(started, started + restart.size)
            started += restart.size
            rows[restart] = 0
            count[restart] = 0
            failures[restart] = 0
            if restart.size < done.size:  # nothing left to start: shrink the pool
                keep = np.ones(seq.size, bool)
                keep[done[restart.size:]] = False
                seq, rows, count, failures = seq[keep], rows[keep], count[keep], failures[keep]

    little_endian_bytes = out_rows.astype(dtype.newbyteorder('<'), copy=False).view(np.uint8)
    bits_unpacked = np.unpackbits(little_endian_bytes, axis=-1, bitorder='little')
    masks = np.ascontiguousarray(bits_unpacked[..., :width]).view(bool)  # (K, H, W)
    if mode == 'exact':
        masks = _top_up(masks, out_count, num_masking_patches, random)
    if not return_blocks:
        return masks
    table = np.concatenate(blocks, axis=1) if blocks else np.zeros((6, 0), np.int64)
    return masks, dict(zip(('index', 'top', 'left', 'h', 'w', 'new'), table))


def _top_up(masks: np.ndarray, count: np.ndarray, target: int,
            random: RandomFn) -> np.ndarray:
    """BEiT v2's exact count: mask uniformly random unmasked cells until ``target`` are.

    Blocks never overshoot (each adds at most the remaining budget), so only a deficit occurs.
    Repeated uniform picks among the free cells (by rejection) give a uniform random subset,
    the distribution of the reference's ``np.random.choice(free, deficit, replace=False)``.
    """
    flat = masks.reshape(len(masks), -1).copy()
    deficit = target - count
    pending = np.flatnonzero(deficit > 0)
    while pending.size:
        cell = (random(pending.size) * flat.shape[1]).astype(np.int64)
        free = ~flat[pending, cell]
        flat[pending[free], cell[free]] = True
        deficit[pending[free]] -= 1
        pending = pending[deficit[pending] > 0]
    return flat.reshape(masks.shape)


@TRANSFORMS.register_module()
class BlockwiseMaskGenerator(BaseTransform):
    """BEiT block-wise mask of the patch grid, in BEiT v2's exact-count or BEiT v1's mode.

    **Added keys**: ``mask`` (H, W) ``np.bool_``, True = masked.

    Masks are generated ``batch_size`` at a time and handed out one per call; the batch is
    redrawn in a new process (dataloader workers never share it).

    Args:
        input_size (int | tuple[int, int]): patch grid (H, W), e.g. 14 for 224 px / patch 16.
        num_masking_patches (int): budget N. Defaults to 75.
        min_num_patches (int): smallest target area of a block. Defaults to 16.
        max_num_patches (int, optional): most new cells one block may add; None = N.
        min_aspect (float): smallest aspect ratio h / w of a block. Defaults to 0.3.
        max_aspect (float, optional): largest aspect ratio; None = 1 / min_aspect.
        mode (str): 'exact' (BEiT v2: after the blocks, random cells are masked until exactly
            N are) or 'v1' (BEiT v1: stop after the blocks, possibly below N). Default 'exact'.
        rng (int | np.random.Generator, optional): explicit generator or seed (tests). None
            uses numpy's global RNG, which MMEngine seeds (``randomness.seed``, per worker).
        batch_size (int): masks drawn per refill; each call hands out the next one. 1 makes
            every call consume the global RNG for its own mask only (much slower).
            Defaults to 4096.
    """

    def __init__(self, input_size: Union[int, Tuple[int, int]], num_masking_patches: int = 75,
                 min_num_patches: int = 16, max_num_patches: Optional[int] = None,
                 min_aspect: float = 0.3, max_aspect: Optional[float] = None,
                 mode: str = 'exact', rng: Union[None, int, np.random.Generator] = None,
                 batch_size: int = 4096) -> None:
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        height, width = (int(s) for s in input_size)
        if height < 2 or width < 2:
            raise ValueError(f'input_size {tuple(input_size)}: each side must be >= 2 patches, '
                             'a block must satisfy h < H and w < W')
        num_cells = height * width
        if not 1 <= num_masking_patches <= num_cells:
            raise ValueError(f'num_masking_patches={num_masking_patches} must be in '
                             f'[1, {num_cells}] for a {height}x{width} grid')
        if not 1 <= min_num_patches <= num_masking_patches:
            raise ValueError(f'min_num_patches={min_num_patches} must be in '
                             f'[1, num_masking_patches={num_masking_patches}]')
        max_num_patches = num_masking_patches if max_num_patches is None else max_num_patches
        if max_num_patches < min_num_patches:
            raise ValueError(f'max_num_patches={max_num_patches} is below '
                             f'min_num_patches={min_num_patches}')
        max_aspect = 1.0 / min_aspect if max_aspect is None and min_aspect > 0 else max_aspect
        if not 0 < min_aspect <= max_aspect:
            raise ValueError(f'need 0 < min_aspect <= max_aspect, got min_aspect={min_aspect}, '
                             f'max_aspect={max_aspect}')
        if mode not in MODES:
            raise ValueError(f'mode {mode!r} is not one of {MODES}')
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.grid = (height, width)
        self.num_masking_patches = int(num_masking_patches)
        self.min_num_patches = int(min_num_patches)
        self.max_num_patches = int(max_num_patches)
        self.log_aspect = (float(np.log(min_aspect)), float(np.log(max_aspect)))
        self.mode = mode
        self.rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
        self.batch_size = int(batch_size)
        self._buffer: Optional[np.ndarray] = None
        self._next = 0
        self._pid = -1

    def _random(self, shape: Tuple[int, ...]) -> np.ndarray:
        if self.rng is None:
            return np.random.random_sample(shape)
        return self.rng.random(shape)

    def generate(self, num_masks: int, return_blocks: bool = False):
        """``num_masks`` fresh masks (K, H, W) bool (and the accepted blocks, see
        :func:`sample_block_masks`)."""
        return sample_block_masks(num_masks, self.grid, self.num_masking_patches,
                                  self.min_num_patches, self.max_num_patches, self.log_aspect,
                                  self.mode, self._random, return_blocks)

    def transform(self, results: dict) -> dict:
        pid = os.getpid()
        if self._buffer is None or self._next >= len(self._buffer) or pid != self._pid:
            self._buffer = self.generate(self.batch_size)
            self._next, self._pid = 0, pid
        # a copy: a view would keep (and, via torch tensors in workers, share) the whole batch
        results['mask'] = self._buffer[self._next].copy()
        self._next += 1
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.grid}, '
                f'num_masking_patches={self.num_masking_patches}, '
                f'min_num_patches={self.min_num_patches}, '
                f'max_num_patches={self.max_num_patches}, '
                f'log_aspect={tuple(round(v, 4) for v in self.log_aspect)}, mode={self.mode!r})')
