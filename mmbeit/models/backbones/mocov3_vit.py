"""MoCo v3 ViT: BEiTViT with a frozen random patch projection and a fixed 2D sin-cos embedding."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

from torch import nn

from mmbeit.registry import MODELS

from .beit_vit import ARCH_SETTINGS, BEiTViT

# moco-v3 ``vits.py``: vit_small has 12 heads of 32 dims (not DeiT-S's 6 of 64); mmpretrain's
# 'mocov3-small' agrees. Sources of every preset: docs/presets.md
MOCOV3_ARCH_SETTINGS = {
    **ARCH_SETTINGS,
    'small': dict(embed_dims=384, num_layers=12, num_heads=12, mlp_ratio=4.0),
}


@MODELS.register_module()
class MoCoV3ViT(BEiTViT):
    """The ViT of MoCo v3 (Chen, Xie, He 2021), as a preset of :class:`BEiTViT`.

    Stability tricks of the paper: the patch projection keeps its random xavier-uniform init and
    gets no gradient (``frozen_patch_embed=True``; set it False to train it), and the absolute
    position embedding is the fixed 2D sin-cos table (temperature 10000, zero for CLS). No
    relative position bias, no layer scale. Weights are initialised as in the official code:
    xavier-uniform Linear layers (qkv with the fan of one of q / k / v), zero biases,
    ``cls_token ~ N(0, 1e-6)``.

    Args:
        arch (str | dict): 'tiny' | 'small' | 'base' | 'large' (:data:`MOCOV3_ARCH_SETTINGS`:
            'small' is moco-v3's ``vit_small``, 384 dims in 12 heads of 32) or a custom dict
            (see :func:`resolve_arch`). Defaults to 'base'.
        img_size (int | tuple): Defaults to 224.
        patch_size (int): Defaults to 16.
        out_indices (int | Sequence[int]): Defaults to -1.
        out_type (str): Defaults to 'cls_token' (the (B, C) feature the projector reads).
        frozen_patch_embed (bool): freeze the random patch projection. Defaults to True.
        stop_grad_conv1 (bool, optional): alias of ``frozen_patch_embed`` (the official and
            mmpretrain name); wins when given.
        **kwargs: other :class:`BEiTViT` arguments (drop_path_rate, frozen_stages, in_channels,
            qkv_bias, ...). ``pos_embed``, ``use_rel_pos_bias``, ``use_shared_rel_pos_bias``
            and ``layer_scale_init_value`` are fixed by MoCo v3 and may not be given.

    Shapes:
        x (B, 3, H, W) -> tuple of (B, C) CLS features (or the chosen ``out_type``).
    """

    arch_settings = MOCOV3_ARCH_SETTINGS
    FIXED = ('pos_embed', 'use_rel_pos_bias', 'use_shared_rel_pos_bias',
             'layer_scale_init_value', 'freeze_patch_embed')

    def __init__(self, arch: Union[str, dict] = 'base', img_size: Union[int, Tuple] = 224,
                 patch_size: int = 16, out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'cls_token', frozen_patch_embed: bool = True,
                 stop_grad_conv1: Optional[bool] = None, **kwargs) -> None:
        fixed = sorted(set(kwargs) & set(self.FIXED))
        if fixed:
            raise TypeError(f'MoCoV3ViT fixes {fixed}; use BEiTViT for other settings '
                            '(frozen_patch_embed switches the patch projection)')
        if stop_grad_conv1 is not None:
            frozen_patch_embed = stop_grad_conv1
        super().__init__(arch=arch, img_size=img_size, patch_size=patch_size,
                         out_indices=out_indices, out_type=out_type, pos_embed='sincos',
                         use_rel_pos_bias=False, use_shared_rel_pos_bias=False,
                         layer_scale_init_value=0.0, freeze_patch_embed=frozen_patch_embed,
                         **kwargs)

    def init_weights(self) -> None:
        """Official MoCo v3 init (xavier-uniform everywhere), unless a checkpoint is loaded."""
        if self.init_cfg is not None and self.init_cfg.get('type') == 'Pretrained':
            super().init_weights()
            return
        for name, m in self.named_modules():
            if isinstance(m, nn.Linear):
                if name.endswith('attn.qkv'):  # fan of a single q / k / v projection
                    bound = math.sqrt(6.0 / float(m.weight.shape[0] // 3 + m.weight.shape[1]))
                    nn.init.uniform_(m.weight, -bound, bound)
                else:
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:
            if blk.attn.q_bias is not None:
                nn.init.zeros_(blk.attn.q_bias)
                nn.init.zeros_(blk.attn.v_bias)
        nn.init.normal_(self.cls_token, std=1e-6)
        proj = self.patch_embed.proj  # xavier-uniform on the flattened (C, 3*p*p) kernel
        bound = math.sqrt(6.0 / float(proj.weight[0].numel() + proj.out_channels))
        nn.init.uniform_(proj.weight, -bound, bound)
        nn.init.zeros_(proj.bias)

