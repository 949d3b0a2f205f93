"""The benchmark's real-photo JPEGs (benchmarks/photos.py), decoded, for transform tests."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List

import cv2
import numpy as np

from tests.conftest import REPO_ROOT


def photo_module():
    spec = importlib.util.spec_from_file_location('bench_photos',
                                                  REPO_ROOT / 'benchmarks' / 'photos.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decoded_photos(folder: Path, count: int = 8) -> List[np.ndarray]:
    """``count`` ImageNet-size photos as (H, W, 3) uint8 BGR arrays."""
    return [cv2.imread(str(p)) for p in photo_module().write_photo_jpegs(folder, count)]
