"""Embedded real data: scikit-learn's handwritten digits as an ImageNet-style image folder.

The 1797 8x8 scans (UCI optical digits) ship inside scikit-learn, so configs and tests run with no
download. On first use they are written as RGB PNGs, upsampled to ``image_size``, into::

    {data_root}/train/{label}/{index:04d}.png
    {data_root}/val/{label}/{index:04d}.png
    {data_root}/meta/train.txt   # "train/3/0042.png 3" per line
    {data_root}/meta/val.txt

with a fixed, class-stratified split (20 % val, seed 0). Nothing is committed as images.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
from mmpretrain.datasets import CustomDataset
from PIL import Image

from mmbeit.registry import DATASETS

DIGIT_CLASSES = tuple(str(i) for i in range(10))
_DONE = '.complete'


def _split_indices(labels: np.ndarray, val_fraction: float, seed: int):
    rng = np.random.RandomState(seed)
    train, val = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val.extend(idx[:n_val].tolist())
        train.extend(idx[n_val:].tolist())
    return sorted(train), sorted(val)


def build_digits_folder(data_root: Union[str, Path], image_size: int = 32,
                        val_fraction: float = 0.2, seed: int = 0) -> Path:
    """Write the digits folder once (atomic, safe with several ranks) and return its path."""
    root = Path(data_root)
    if (root / _DONE).exists():
        return root
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0 * 255.0).clip(0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    train, val = _split_indices(labels, val_fraction, seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='.digits-', dir=root.parent))
    (tmp / 'meta').mkdir()
    for split, indices in (('train', train), ('val', val)):
        lines = []
        for i in indices:
            rel = f'{split}/{labels[i]}/{i:04d}.png'
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            img = Image.fromarray(images[i]).resize((image_size, image_size), Image.BICUBIC)
            img.convert('RGB').save(tmp / rel)
            lines.append(f'{rel} {labels[i]}')
        (tmp / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    (tmp / _DONE).write_text(f'image_size={image_size} seed={seed}\n')
    try:
        os.rename(tmp, root)
    except OSError:  # another process won the race, or a partial folder is in the way
        if not (root / _DONE).exists():
            if root.exists():
                shutil.rmtree(root)
            os.rename(tmp, root)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


@DATASETS.register_module()
class DigitsDataset(CustomDataset):
    """scikit-learn digits as an image-folder dataset (10 classes, 1438 train / 359 val).

    Args:
        data_root (str): where the folder lives or is generated. Defaults to 'data/digits'.
        split (str): 'train' or 'val'. Defaults to 'train'.
        image_size (int): side of the written PNGs (first use only). Defaults to 32.
        **kwargs: passed to mmpretrain's ``CustomDataset`` (pipeline, test_mode, ...).
    """

    METAINFO = {'classes': DIGIT_CLASSES}

    def __init__(self, data_root: str = 'data/digits', split: str = 'train',
                 image_size: int = 32, **kwargs) -> None:
        if split not in ('train', 'val'):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        build_digits_folder(data_root, image_size)
        super().__init__(data_root=data_root, ann_file=f'meta/{split}.txt', data_prefix='',
                         with_label=True, **kwargs)
