"""The embedded digits data: a real, fixed, stratified split as an image folder."""
from __future__ import annotations

import numpy as np

from mmbeit.datasets import DigitsDataset, build_digits_folder


def test_digits_folder_has_fixed_stratified_split(digits_root):
    train = DigitsDataset(data_root=str(digits_root), split='train')
    val = DigitsDataset(data_root=str(digits_root), split='val')
    assert len(train) == 1438 and len(val) == 359
    per_class = [np.bincount([ds.get_data_info(i)['gt_label'] for i in range(len(ds))],
                             minlength=10) for ds in (train, val)]
    # stratified: every class sends its 20 % share (359 / 1797) to val, to within one image
    share = per_class[1] / (per_class[0] + per_class[1])
    assert np.abs(per_class[1] - 0.2 * (per_class[0] + per_class[1])).max() <= 1, share
    files_train = {train.get_data_info(i)['img_path'] for i in range(len(train))}
    files_val = {val.get_data_info(i)['img_path'] for i in range(len(val))}
    assert not files_train & files_val


def test_digits_images_are_real_scans(digits_root):
    from PIL import Image

    ds = DigitsDataset(data_root=str(digits_root), split='train')
    img = np.asarray(Image.open(ds.get_data_info(0)['img_path']))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert img.std() > 20  # strokes on background, not a blank


def test_build_is_idempotent_and_rejects_bad_split(tmp_path, digits_root):
    root = build_digits_folder(tmp_path / 'd', image_size=16)
    assert build_digits_folder(root) == root
    first = (root / 'meta' / 'val.txt').read_text()
    assert first == (digits_root / 'meta' / 'val.txt').read_text()  # same split at any size
    import pytest

    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        DigitsDataset(data_root=str(root), split='test')
