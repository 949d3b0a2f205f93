"""Real-photo JPEGs at ImageNet sizes, made from the photos that installed packages ship.

These machines reach no dataset, so the data-pipeline benchmark and tests cut random parts of
matplotlib's ``grace_hopper.jpg`` and scikit-learn's ``china.jpg`` / ``flower.jpg`` (when
installed), resize them to ImageNet's common sizes (500x375, 375x500, 500x333, 500x400) and
save them at JPEG quality 90, so that decoding and colour statistics are those of photos.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List

import cv2
import numpy as np

SIZES = ((500, 375), (375, 500), (500, 333), (500, 400))  # (width, height)
SOURCES = (('matplotlib', 'mpl-data/sample_data/grace_hopper.jpg'),
           ('sklearn', 'datasets/images/china.jpg'),
           ('sklearn', 'datasets/images/flower.jpg'))


def source_photos() -> List[Path]:
    """The shipped photos found in this environment (matplotlib's is always installed)."""
    found = []
    for package, relative in SOURCES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            path = Path(spec.origin).parent / relative
            if path.is_file():
                found.append(path)
    if not found:
        raise FileNotFoundError(f'none of the sample photos {SOURCES} is installed')
    return found


def write_photo_jpegs(folder: Path, count: int = 48, seed: int = 0) -> List[Path]:
    """``count`` JPEGs in ``folder`` (reused when already there); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f'photo_{k:03d}.jpg' for k in range(count)]
    if all(p.is_file() for p in paths):
        return paths
    sources = [cv2.imread(str(p)) for p in source_photos()]
    rng = np.random.default_rng(seed)
    for k, path in enumerate(paths):
        img = sources[k % len(sources)]
        height, width = img.shape[:2]
        crop_h, crop_w = int(height * rng.uniform(0.6, 1)), int(width * rng.uniform(0.6, 1))
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        out = cv2.resize(img[top:top + crop_h, left:left + crop_w], SIZES[k % len(SIZES)],
                         interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(path), out, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return paths
