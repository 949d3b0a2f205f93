"""MoCo v3 projector / predictor: Linear (no bias) -> BN -> ReLU, the last BN without affine."""
from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from torch import nn

from mmbeit.registry import MODELS


@MODELS.register_module()
class MoCoV3MLP(BaseModule):
    """The MLP of MoCo v3's projector (3 layers, 4096 -> 256) and predictor (2 layers, 4096).

    Layer l: ``Linear(bias=False)``; every layer but the last is followed by ``BatchNorm1d`` and
    ReLU; the last by ``BatchNorm1d(affine=False)`` when ``last_bn`` (ViT projector and
    predictor, ResNet projector) or by nothing (ResNet predictor). The layers form one
    ``nn.Sequential`` named ``mlp`` whose indices match the official release (``head.0, head.1,
    head.3, ...``), so released projector / predictor weights load under the ``mlp.`` prefix.

    Args:
        in_channels (int): input width (backbone width for the projector, 256 for the predictor).
        hid_channels (int): hidden width. Defaults to 4096.
        out_channels (int): output width. Defaults to 256.
        num_layers (int): number of Linear layers, >= 1. Defaults to 3.
        last_bn (bool): BatchNorm without affine after the last Linear. Defaults to True.
        init_cfg (dict, optional): MMEngine init config.

    Shapes:
        x (B, in_channels) or a tuple whose last element is that -> tuple with one
        (B, out_channels) tensor (the MMEngine neck convention).
    """

    def __init__(self, in_channels: int, hid_channels: int = 4096, out_channels: int = 256,
                 num_layers: int = 3, last_bn: bool = True, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.in_channels, self.out_channels = in_channels, out_channels
        layers = []
        for i in range(num_layers):
            dim_in = in_channels if i == 0 else hid_channels
            last = i == num_layers - 1
            dim_out = out_channels if last else hid_channels
            layers.append(nn.Linear(dim_in, dim_out, bias=False))
            if not last:
                layers += [nn.BatchNorm1d(dim_out), nn.ReLU(inplace=True)]
            elif last_bn:
                layers.append(nn.BatchNorm1d(dim_out, affine=False))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]) -> Tuple[torch.Tensor]:
        if isinstance(x, (tuple, list)):
            x = x[-1]
        if x.ndim == 4:  # ResNet feature map: global average pool
            x = x.mean(dim=(2, 3))
        if x.ndim != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f'MoCoV3MLP expects (B, {self.in_channels}) features, got '
                             f'{tuple(x.shape)}')
        return (self.mlp(x),)
