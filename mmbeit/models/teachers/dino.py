"""DINO ViT (original facebookresearch/dino layout) as a frozen VQ-KD teacher."""
from __future__ import annotations

import re
from typing import Dict, Optional

import torch

from mmbeit.registry import MODELS
from mmbeit.utils import StateDictMismatchError, add_prefix, get_state_dict, strip_prefix
from mmbeit.utils.key_maps import convert_timm_vit

from .backbone import BackboneTeacher
from .base import IMAGENET_MEAN, IMAGENET_STD

_DINO_PREFIXES = ('module.', 'backbone.')


def dino_key(mmbeit_key: str) -> str:
    """``BEiTViT`` key -> DINO key (the q / v biases live in ``attn.qkv.bias``)."""
    return re.sub(r'attn\.(q_bias|v_bias)$', 'attn.qkv.bias', mmbeit_key)


@MODELS.register_module()
class DINOTeacher(BackboneTeacher):
    """DINO ViT; features = patch tokens after the final ``norm``.

    Loads the DINO release layout (``dino_vitbase16_pretrain.pth``): ``cls_token``,
    ``pos_embed``, ``patch_embed.proj.{weight,bias}``, ``blocks.N.{norm1, attn.qkv.{weight,
    bias}, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``; also a full training checkpoint
    (its ``teacher`` entry, ``module.`` / ``backbone.`` prefixes stripped, ``head.*`` dropped).
    The k part of the qkv bias is dropped: it shifts every logit of a query equally and
    cannot change the softmax.

    Args:
        arch (str | dict): ``BEiTViT`` arch. Defaults to 'base' (768-d features).
        img_size (int): Defaults to 224.
        patch_size (int): Defaults to 16.
        checkpoint (str, optional): local DINO checkpoint.
        mean, std: ImageNet normalisation on [0, 1] images.

    Shapes: (B, 3, H, W) in [0, 1] -> (B, (H/p)(W/p), embed_dims).
    """

    def __init__(self, arch='base', img_size: int = 224, patch_size: int = 16,
                 checkpoint: Optional[str] = None, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD) -> None:
        backbone = dict(type='BEiTViT', arch=arch, img_size=img_size, patch_size=patch_size,
                        pos_embed='learned', layer_scale_init_value=0.0,
                        use_shared_rel_pos_bias=False, final_norm=True, out_type='raw')
        super().__init__(backbone, checkpoint=checkpoint, prefix='', mean=mean, std=std)

    def convert_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        if 'teacher' in checkpoint and isinstance(checkpoint['teacher'], dict):
            checkpoint = checkpoint['teacher']
        state_dict = get_state_dict(checkpoint)
        for prefix in _DINO_PREFIXES:
            if any(k.startswith(prefix) for k in state_dict):  # (backbone + DINO head)
                state_dict = strip_prefix(state_dict, prefix)
        expected = {dino_key(k) for k in self.backbone.state_dict()}
        missing = sorted(expected - set(state_dict))
        unexpected = sorted(set(state_dict) - expected)
        if missing or unexpected:
            raise StateDictMismatchError(
                f'{self.checkpoint} does not match the DINO ViT layout:\n'
                f'  missing keys ({len(missing)}): {", ".join(missing[:20])}\n'
                f'  unexpected keys ({len(unexpected)}): {", ".join(unexpected[:20])}')
        converted, _ = convert_timm_vit(state_dict)
        return add_prefix(converted, 'backbone.')
