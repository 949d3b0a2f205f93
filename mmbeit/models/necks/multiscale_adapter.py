"""Single-scale ViT feature maps -> a 4-level pyramid for detection / segmentation necks (FPN).

Two layouts:

* ``'beit'`` (BEiT's detection / segmentation adapter): four block outputs at stride 16, one per
  scale: 2 transposed convs (4x, BN + GELU between) -> stride 4; 1 transposed conv -> stride 8;
  identity -> stride 16; 2x2 max-pool -> stride 32.
* ``'simple_pyramid'`` (ViTDet): the same four operations, all on the last block's map
  (LayerNorm instead of BN between the two transposed convs), each optionally projected to
  ``out_channels`` by 1x1 conv + LN + 3x3 conv + LN.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d
from torch import nn

from mmbeit.registry import MODELS

LAYOUTS = ('beit', 'simple_pyramid')


def _norm(layout: str, channels: int, norm_cfg: dict) -> nn.Module:
    if layout == 'simple_pyramid':
        return LayerNorm2d(channels, eps=1e-6)
    return build_norm_layer(norm_cfg, channels)[1]


@MODELS.register_module()
class MultiScaleAdapter(BaseModule):
    """Turn stride-16 ViT maps into strides 4, 8, 16, 32.

    Args:
        in_channels (int): C of the backbone maps.
        layout (str): 'beit' (one input map per scale, 4 inputs) or 'simple_pyramid' (ViTDet,
            uses the last input only). Defaults to 'beit'.
        out_channels (int, optional): 'simple_pyramid' only: project every level to this many
            channels (1x1 conv + LN + 3x3 conv + LN, as ViTDet). Defaults to None (keep C).
        norm_cfg (dict): norm between the two 4x transposed convs of the 'beit' layout;
            use ``dict(type='SyncBN')`` for multi-GPU training. Defaults to None (BN).
        init_cfg (dict, optional): MMEngine init config.

    Shapes:
        inputs: sequence of (B, C, H, W) with H, W = image / 16 -> tuple of 4 maps
        (B, C', 4H, 4W), (B, C', 2H, 2W), (B, C', H, W), (B, C', H/2, W/2).
    """

    def __init__(self, in_channels: int, layout: str = 'beit',
                 out_channels: Optional[int] = None,
                 norm_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else norm_cfg
        if layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
        if out_channels is not None and layout != 'simple_pyramid':
            raise ValueError("out_channels is for layout='simple_pyramid'; the 'beit' layout "
                             'keeps the backbone channels (set FPN in_channels to them)')
        c = in_channels
        self.layout = layout
        self.in_channels = in_channels
        self.upsample_4x = nn.Sequential(
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2),
            _norm(layout, c, norm_cfg),
            nn.GELU(),
            nn.ConvTranspose2d(c, c, kernel_size=2, stride=2))
        self.upsample_2x = nn.ConvTranspose2d(c, c, kernel_size=2, stride=2)
        self.identity = nn.Identity()
        self.downsample_2x = nn.MaxPool2d(kernel_size=2, stride=2)
        self.out_channels = out_channels if out_channels is not None else c
        self.projections = None
        if out_channels is not None:
            self.projections = nn.ModuleList([
                nn.Sequential(
                    nn.Conv2d(c, out_channels, 1, bias=False), LayerNorm2d(out_channels, eps=1e-6),
                    nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                    LayerNorm2d(out_channels, eps=1e-6))
                for _ in range(4)
            ])

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        inputs = list(inputs)
        if self.layout == 'beit':
            if len(inputs) != 4:
                raise ValueError(f"layout 'beit' needs 4 backbone maps (out_indices of 4 "
                                 f'blocks), got {len(inputs)}')
            maps = inputs
        else:
            if not inputs:
                raise ValueError("layout 'simple_pyramid' needs at least one backbone map")
            maps = [inputs[-1]] * 4
        for m in maps:
            if m.ndim != 4 or m.shape[1] != self.in_channels:
                raise ValueError(f'expected (B, {self.in_channels}, H, W) maps (backbone '
                                 f"out_type='featmap'), got {tuple(m.shape)}")
        ops = (self.upsample_4x, self.upsample_2x, self.identity, self.downsample_2x)
        outs = [op(m) for op, m in zip(ops, maps)]
        if self.projections is not None:
            outs = [proj(o) for proj, o in zip(self.projections, outs)]
        return tuple(outs)
