"""One feature-pooling contract for every place that turns ViT tokens into one vector.

``pooling`` names (used by the kNN hook / tool, the linear probe, the demo report and the
linear-probe neck, and written in their outputs):

- ``'cls'``: the CLS token, ``tokens[:, 0]`` (MoCo v3's trained output),
- ``'mean_patch'``: the mean of the patch tokens, ``tokens[:, 1:].mean(1)`` (BEiT v2's and the
  VQ-KD tokenizer's features; for a (B, C, h, w) map, the spatial mean),
- ``'cls_mean_patch'``: both, concatenated (B, 2C) (BEiT v2's linear probe).
"""
from __future__ import annotations

from typing import Sequence, Union

import torch

POOLINGS = ('cls', 'mean_patch', 'cls_mean_patch')
# BEiTViT / MoCoV3ViT out_types that pool inside the backbone, and the pooling they do
BACKBONE_POOLING = {'cls_token': 'cls', 'avg_featmap': 'mean_patch'}


def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f'pooling must be one of {POOLINGS}, got {pooling!r}')
    return pooling


def patch_tokens(tokens: torch.Tensor, num_extra_tokens: int = 1) -> torch.Tensor:
    """(B, extra + N, C) -> (B, N, C): the patch tokens, without CLS / distillation tokens."""
    return tokens[:, num_extra_tokens:]


def pool_tokens(tokens: torch.Tensor, pooling: str, num_extra_tokens: int = 1
                ) -> torch.Tensor:
    """(B, extra + N, C) tokens -> (B, C) (``cls`` / ``mean_patch``) or (B, 2C)."""
    check_pooling(pooling)
    if tokens.ndim != 3:
        raise ValueError(f'expected tokens (B, 1+N, C), got {tuple(tokens.shape)}')
    if pooling == 'cls':
        return tokens[:, 0]
    mean = patch_tokens(tokens, num_extra_tokens).mean(dim=1)
    return mean if pooling == 'mean_patch' else torch.cat([tokens[:, 0], mean], dim=-1)


def pool_features(feat: Union[torch.Tensor, Sequence[torch.Tensor]], pooling: str
                  ) -> torch.Tensor:
    """A backbone / neck output -> (B, C) by ``pooling``.

    The last element of a tuple is used; (B, 1+N, C) tokens are pooled; a (B, C, h, w) map has
    no CLS token and takes ``'mean_patch'`` only; a (B, C) vector is already pooled (by the
    model: check that with :func:`check_backbone_pooling`).
    """
    check_pooling(pooling)
    if isinstance(feat, (tuple, list)):
        feat = feat[-1]
    if feat.ndim == 3:
        return pool_tokens(feat, pooling)
    if feat.ndim == 4:
        if pooling != 'mean_patch':
            raise ValueError(f'a feature map {tuple(feat.shape)} has no CLS token: use '
                             "pooling='mean_patch'")
        return feat.mean(dim=(2, 3))
    if feat.ndim != 2:
        raise ValueError(f'cannot pool a feature of shape {tuple(feat.shape)} into (B, C)')
    return feat


def check_backbone_pooling(backbone: torch.nn.Module, pooling: str) -> None:
    """Refuse a backbone whose ``out_type`` already pools in another way than ``pooling``."""
    check_pooling(pooling)
    out_type = getattr(backbone, 'out_type', None)
    done = BACKBONE_POOLING.get(out_type)
    if done is not None and done != pooling:
        raise ValueError(f"the backbone's out_type={out_type!r} gives pooling {done!r}, but "
                         f"pooling={pooling!r} was asked for: build it with out_type='raw'")
