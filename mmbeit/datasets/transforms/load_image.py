"""mmcv's ``LoadImageFromFile`` with a pixel budget checked before the full decode.

A 20000 x 20000 JPEG decodes to 1.2 GB and takes tens of seconds; one such file in a folder of
photos stalls a DataLoader worker and can exhaust its memory. The image size is read from the
file's header (Pillow, without decoding) and a file over ``max_pixels`` raises
:class:`ImageTooLargeError` naming it, which ``UnlabeledImageFolder`` (and any dataset that
skips unreadable files) records and skips like an unreadable one. Registered in mmbeit's scope
as ``LoadImageFromFile`` too, so every recipe has the guard; the other arguments are mmcv's.
"""
from __future__ import annotations

import io
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine import fileio
from PIL import Image, UnidentifiedImageError

from mmbeit.registry import TRANSFORMS

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: 10000 x 10000; ImageNet photos are ~0.2 MP


class ImageTooLargeError(ValueError):
    """An image's header declares more pixels than ``max_pixels``."""


def header_size(data: bytes) -> Optional[tuple]:
    """(width, height) from the header of an encoded image, None if Pillow cannot tell."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError:  # Pillow refuses to open it at all: read the header
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # without its check
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    except (UnidentifiedImageError, OSError, ValueError):
        return None


@TRANSFORMS.register_module(name=['LoadImageFromFile', 'GuardedLoadImageFromFile'])
class GuardedLoadImageFromFile(MMCVLoadImageFromFile):
    """``LoadImageFromFile`` that refuses images over ``max_pixels`` (None: no limit)."""

    def __init__(self, *args, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if max_pixels is not None and max_pixels <= 0:
            raise ValueError(f'max_pixels must be > 0 or None, got {max_pixels}')
        self.max_pixels = max_pixels

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            if self.file_client_args is not None:
                data = fileio.FileClient.infer_client(self.file_client_args,
                                                      filename).get(filename)
            else:
                data = fileio.get(filename, backend_args=self.backend_args)
            size = header_size(data) if self.max_pixels is not None else None
            if size is not None and size[0] * size[1] > self.max_pixels:
                raise ImageTooLargeError(
                    f'{filename} is {size[0]} x {size[1]} = {size[0] * size[1] / 1e6:.1f} MP, '
                    f'over LoadImageFromFile max_pixels={self.max_pixels}: not decoded (raise '
                    'max_pixels, or None, to read such files)')
            img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend)
        except ImageTooLargeError:
            raise
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if img is None:
            raise ValueError(f'failed to load image: {filename}')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
