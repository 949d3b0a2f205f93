"""``PackInputs`` without the per-view copy: (H, W, C) uint8 arrays become (C, H, W) uint8
tensor *views*; the collate's ``torch.stack`` makes the one contiguous batch, and the model's
data preprocessor converts dtype and normalises on the device."""
from __future__ import annotations

import numpy as np
import torch
from mmpretrain.datasets.transforms import PackInputs

from mmbeit.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackUint8Inputs(PackInputs):
    """mmpretrain ``PackInputs``; images (or lists of views) are packed as CHW views."""

    @staticmethod
    def format_input(input_):
        if isinstance(input_, list):
            return [PackUint8Inputs.format_input(item) for item in input_]
        if isinstance(input_, np.ndarray) and input_.ndim in (2, 3):
            if input_.ndim == 2:
                input_ = input_[..., None]
            if not input_.flags.writeable:  # torch.from_numpy needs a writeable array
                input_ = input_.copy()
            return torch.from_numpy(input_).permute(2, 0, 1)
        return PackInputs.format_input(input_)
