"""Linear-probe features of BEiT v2: [CLS ; mean of patch tokens], batch-normalised."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn

from mmbeit.registry import MODELS

from ..utils import pool_tokens


@MODELS.register_module()
class ClsPatchPoolNeck(BaseModule):
    """Pool raw tokens (``pooling`` 'cls_mean_patch', 'cls' or 'mean_patch', see
    :mod:`mmbeit.models.utils.pooling`), then BatchNorm (no affine).

    Args:
        embed_dims (int): C of the backbone tokens.
        use_cls_token (bool): include the CLS token. Defaults to True.
        use_avg_patch (bool): include the mean of the patch tokens. Defaults to True.
        norm (bool): BatchNorm1d without affine on the features (the linear probe's BN).
            Defaults to True.
        init_cfg (dict, optional): MMEngine init config.

    Shapes:
        inputs: tuple of raw tokens (B, 1+N, C) (backbone ``out_type='raw'``); the last is used
        -> tuple with one (B, k*C) tensor, k = number of parts used.
    """

    def __init__(self, embed_dims: int, use_cls_token: bool = True, use_avg_patch: bool = True,
                 norm: bool = True, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (use_cls_token or use_avg_patch):
            raise ValueError('use at least one of use_cls_token / use_avg_patch')
        self.embed_dims = embed_dims
        self.use_cls_token = use_cls_token
        self.use_avg_patch = use_avg_patch
        self.pooling = ('cls_mean_patch' if use_cls_token and use_avg_patch
                        else 'cls' if use_cls_token else 'mean_patch')
        self.out_channels = embed_dims * (int(use_cls_token) + int(use_avg_patch))
        self.bn = nn.BatchNorm1d(self.out_channels, affine=False) if norm else nn.Identity()

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor]:
        tokens = inputs[-1]
        if tokens.ndim != 3 or tokens.shape[-1] != self.embed_dims:
            raise ValueError(f"expected raw tokens (B, 1+N, {self.embed_dims}) (backbone "
                             f"out_type='raw'), got {tuple(tokens.shape)}")
        return (self.bn(pool_tokens(tokens, self.pooling)),)
