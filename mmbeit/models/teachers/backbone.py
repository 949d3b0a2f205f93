"""Any mmbeit / mmpretrain backbone with a local checkpoint as a frozen VQ-KD teacher."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import torch
from torch import nn

from mmbeit.registry import MODELS
from mmbeit.utils import add_prefix, get_state_dict, strip_prefix

from ..utils import patch_tokens
from .base import IMAGENET_MEAN, IMAGENET_STD, FrozenTeacher


@MODELS.register_module()
class BackboneTeacher(FrozenTeacher):
    """A backbone built from a config, loaded from a checkpoint, giving patch features.

    The backbone's last output is turned into (B, N, C): a feature map (B, C, h, w) is
    flattened; a token sequence (B, T, C) loses its first ``num_extra_tokens`` (the CLS).

    Args:
        backbone (dict): backbone config (e.g. ``BEiTViT`` with ``out_type='featmap'``).
        checkpoint (str, optional): local checkpoint; its keys under ``prefix`` are the
            backbone's. None keeps a random init (a random-feature teacher for tests).
        prefix (str): key prefix of the backbone in the checkpoint, stripped; keys without it
            are ignored. ``'backbone.'`` for an mmbeit / mmpretrain model (e.g. MoCo v3),
            ``'momentum_encoder.module.0.'`` for mmpretrain MoCo v3's momentum backbone, ''
            for a plain backbone file. Defaults to 'backbone.'.
        num_extra_tokens (int): leading non-patch tokens of a (B, T, C) output. Default 1.
        out_dims (int, optional): feature size; defaults to ``backbone.embed_dims``.
        mean, std (Sequence[float]): input normalisation on [0, 1]. Default ImageNet.
    """

    def __init__(self, backbone: Union[dict, nn.Module], checkpoint: Optional[str] = None,
                 prefix: str = 'backbone.', num_extra_tokens: int = 1,
                 out_dims: Optional[int] = None, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        super().__init__(mean, std, checkpoint)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        self.prefix = prefix
        self.num_extra_tokens = num_extra_tokens
        self.out_dims = out_dims or int(getattr(self.backbone, 'embed_dims', 0))
        if not self.out_dims:
            raise ValueError('BackboneTeacher: give out_dims (the backbone has no embed_dims)')
        self.finish_init()

    def random_init(self) -> None:
        if hasattr(self.backbone, 'init_weights'):
            self.backbone.init_weights()

    def convert_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        state_dict = get_state_dict(checkpoint)
        picked = strip_prefix(state_dict, self.prefix)
        if not picked:
            sample = ', '.join(list(state_dict)[:8])
            raise KeyError(f'{self.checkpoint}: no keys under prefix {self.prefix!r}; first '
                           f'keys: {sample}')
        return add_prefix(picked, 'backbone.')

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        out = self.backbone(images)
        out = out[-1] if isinstance(out, (tuple, list)) else out
        if out.ndim == 4:
            return out.flatten(2).transpose(1, 2)
        if out.ndim == 3:
            return patch_tokens(out, self.num_extra_tokens)
        raise ValueError(f'BackboneTeacher: backbone output {tuple(out.shape)} is neither '
                         '(B, C, h, w) nor (B, T, C); set its out_type to featmap / raw')
