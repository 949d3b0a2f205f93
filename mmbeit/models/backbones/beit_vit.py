"""BEiT Vision Transformer: relative position bias, layer scale, mask token, fused attention."""
from __future__ import annotations

import math
import os
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import resize_pos_embed
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmbeit.registry import MODELS

from ..utils import (
    RelativePositionBias,
    TransformerBlock,
    build_2d_sincos_pos_embed,
    patch_tokens,
    pool_tokens,
)
from ..utils.weight_init import init_linear_and_norm

# BEiT / DINO / VQ-KD presets; where each comes from: docs/presets.md
ARCH_SETTINGS: Dict[str, Dict[str, float]] = {
    'tiny': dict(embed_dims=192, num_layers=12, num_heads=3, mlp_ratio=4.0),  # DeiT-Ti
    'small': dict(embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=4.0),  # DeiT-S, DINO S
    'base': dict(embed_dims=768, num_layers=12, num_heads=12, mlp_ratio=4.0),  # BEiT B
    'large': dict(embed_dims=1024, num_layers=24, num_heads=16, mlp_ratio=4.0),  # BEiT L
}
OUT_TYPES = ('raw', 'cls_token', 'featmap', 'avg_featmap')


def resolve_arch(arch: Union[str, dict],
                 presets: Optional[Dict[str, Dict[str, float]]] = None) -> Dict[str, float]:
    """Preset name (of ``presets``, default :data:`ARCH_SETTINGS`) or a dict with
    embed_dims / num_layers / num_heads (/ mlp_ratio)."""
    presets = ARCH_SETTINGS if presets is None else presets
    if isinstance(arch, str):
        if arch.lower() not in presets:
            raise KeyError(f'unknown arch {arch!r}; choose from {sorted(presets)} or '
                           'give a dict with embed_dims, num_layers, num_heads')
        return dict(presets[arch.lower()])
    missing = {'embed_dims', 'num_layers', 'num_heads'} - set(arch)
    if missing:
        raise KeyError(f'custom arch dict lacks {sorted(missing)}')
    return {'mlp_ratio': 4.0, **arch}


@MODELS.register_module()
class BEiTViT(BaseBackbone):
    """ViT of BEiT v1 / v2 (and, with ``pos_embed='sincos'``, of MoCo v3 / VQ-KD).

    Args:
        arch (str | dict): 'tiny' | 'small' | 'base' | 'large' or a dict with ``embed_dims``,
            ``num_layers``, ``num_heads`` and optional ``mlp_ratio``. Defaults to 'base'.
        img_size (int | tuple): input size. Defaults to 224.
        patch_size (int): Defaults to 16.
        in_channels (int): Defaults to 3.
        out_indices (int | Sequence[int]): blocks whose outputs are returned. Defaults to -1.
        out_type (str): 'raw' (B, 1+N, C) tokens, 'cls_token' (B, C), 'featmap'
            (B, C, H, W) patch tokens, or 'avg_featmap' (B, C) mean of patch tokens.
            Defaults to 'raw'.
        pos_embed (str | None): 'learned' absolute embedding, 'sincos' (fixed 2D sin-cos,
            zero for CLS), or None. Defaults to None (BEiT uses relative bias instead).
        use_rel_pos_bias (bool): a relative position bias per block. Defaults to False.
        use_shared_rel_pos_bias (bool): one bias shared by all blocks. Defaults to True.
        layer_scale_init_value (float): 0 disables layer scale. Defaults to 0.1.
        qkv_bias (bool): Defaults to True.
        drop_rate, drop_path_rate (float): dropout and stochastic depth (linear over depth).
        with_mask_token (bool): learn a mask token for MIM; ``forward(x, mask)``. Default False.
        final_norm (bool): LayerNorm on the last block's tokens. Defaults to True.
        avg_token_norm (bool): LayerNorm after averaging patch tokens ('avg_featmap', BEiT's
            fine-tuning head input). Defaults to False.
        freeze_patch_embed (bool): MoCo v3's frozen random patch projection. Default False.
        frozen_stages (int): freeze the patch embedding and the first blocks; ``num_layers``
            freezes every parameter (shared bias and norms too). Defaults to -1.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        with_cp (bool): activation checkpointing: in training, each block's activations are
            recomputed in the backward pass instead of stored (same loss and gradients, dropout
            and drop path included; less memory, about one more block forward). Default False.
        init_cfg (dict, optional): MMEngine init config.

    Shapes:
        x (B, 3, H, W), mask (B, H/p, W/p) or (B, N) bool -> tuple of ``out_type`` tensors.
    """

    arch_settings: Dict[str, Dict[str, float]] = ARCH_SETTINGS

    def __init__(self, arch: Union[str, dict] = 'base', img_size: Union[int, Tuple] = 224,
                 patch_size: int = 16, in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1, out_type: str = 'raw',
                 pos_embed: Optional[str] = None, use_rel_pos_bias: bool = False,
                 use_shared_rel_pos_bias: bool = True, layer_scale_init_value: float = 0.1,
                 qkv_bias: bool = True, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 with_mask_token: bool = False, final_norm: bool = True,
                 avg_token_norm: bool = False, freeze_patch_embed: bool = False,
                 frozen_stages: int = -1, norm_eps: float = 1e-6, with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        settings = resolve_arch(arch, self.arch_settings)
        self.mlp_ratio = float(settings['mlp_ratio'])
        self.embed_dims = c = int(settings['embed_dims'])
        self.num_layers = depth = int(settings['num_layers'])
        self.num_heads = int(settings['num_heads'])
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if img_size[0] % patch_size or img_size[1] % patch_size:
            raise ValueError(f'img_size {img_size} is not a multiple of patch_size {patch_size}')
        self.patch_size = patch_size
        self.patch_resolution = (img_size[0] // patch_size, img_size[1] // patch_size)
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        if out_type not in OUT_TYPES:
            raise ValueError(f'out_type {out_type!r} is not one of {OUT_TYPES}')
        if use_rel_pos_bias and use_shared_rel_pos_bias:
            raise ValueError('choose per-layer (use_rel_pos_bias) or shared '
                             '(use_shared_rel_pos_bias) relative position bias, not both')
        self.out_type = out_type
        out_indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        self.out_indices = sorted(i % depth for i in out_indices)
        for i in out_indices:
            if not -depth <= i < depth:
                raise IndexError(f'out_indices {out_indices} out of range for {depth} blocks')

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(in_channels, c, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c)) if with_mask_token else None
        self.pos_embed_type = pos_embed
        if pos_embed == 'learned':
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, c))
        elif pos_embed == 'sincos':
            emb = build_2d_sincos_pos_embed(self.patch_resolution, c)
            self.pos_embed = nn.Parameter(emb, requires_grad=False)
        elif pos_embed is None:
            self.pos_embed = None
        else:
            raise ValueError(f"pos_embed must be 'learned', 'sincos' or None, got {pos_embed!r}")
        self.pos_drop = nn.Dropout(drop_rate)
        self.rel_pos_bias = (RelativePositionBias(self.patch_resolution, self.num_heads)
                             if use_shared_rel_pos_bias else None)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            TransformerBlock(c, self.num_heads, settings['mlp_ratio'], qkv_bias, drop_rate,
                             0.0, dpr[i], layer_scale_init_value,
                             self.patch_resolution if use_rel_pos_bias else None, norm_eps)
            for i in range(depth)
        ])
        self.final_norm = final_norm
        self.norm = nn.LayerNorm(c, eps=norm_eps) if final_norm else nn.Identity()
        self.fc_norm = nn.LayerNorm(c, eps=norm_eps) if avg_token_norm else None
        self.freeze_patch_embed = freeze_patch_embed
        self.frozen_stages = frozen_stages
        self.with_cp = with_cp
        self._freeze()

    # ------------------------------------------------------------------ init / freezing
    def init_weights(self) -> None:
        """Random init, or ``init_cfg=dict(type='Pretrained', checkpoint, prefix)``: a local file
        is loaded checked (:func:`~mmbeit.models.backbones.pretrained.load_pretrained_backbone`:
        wrong arch or missing tensors raise; ``strict_missing=False`` in init_cfg only warns)."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            if os.path.isfile(str(cfg.get('checkpoint', ''))):
                from .pretrained import load_pretrained_backbone

                load_pretrained_backbone(self, cfg['checkpoint'], prefix=cfg.get('prefix', ''),
                                         strict_missing=cfg.get('strict_missing', True))
                self._is_init = True
            else:  # URLs and other schemes: MMEngine's loader (unchecked)
                self.init_cfg = {k: v for k, v in cfg.items() if k != 'strict_missing'}
                super().init_weights()
            return
        super().init_weights()
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if self.mask_token is not None:
            nn.init.trunc_normal_(self.mask_token, std=0.02)
        if self.pos_embed_type == 'learned':
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        init_linear_and_norm(self)
        for m in self.modules():
            if isinstance(m, RelativePositionBias):
                nn.init.trunc_normal_(m.relative_position_bias_table, std=0.02)
        proj = self.patch_embed.proj
        if self.freeze_patch_embed:  # MoCo v3: xavier-uniform on the flattened kernel
            fan_in = proj.weight[0].numel()  # 3 * p * p
            bound = math.sqrt(6.0 / float(fan_in + proj.out_channels))
            nn.init.uniform_(proj.weight, -bound, bound)
        else:
            nn.init.trunc_normal_(proj.weight.view(proj.out_channels, -1), std=0.02)
        nn.init.zeros_(proj.bias)
        for i, blk in enumerate(self.blocks):  # BEiT's depth-scaled residual projections
            blk.attn.proj.weight.data.div_(math.sqrt(2.0 * (i + 1)))
            blk.mlp.fc2.weight.data.div_(math.sqrt(2.0 * (i + 1)))

    def _freeze(self) -> None:
        if self.freeze_patch_embed or self.frozen_stages >= 0:
            self.patch_embed.requires_grad_(False)
        if self.frozen_stages >= 0:
            for p in (self.cls_token, self.pos_embed):
                if p is not None:
                    p.requires_grad_(False)
            for blk in self.blocks[:self.frozen_stages]:
                blk.eval()
                blk.requires_grad_(False)
        if self.frozen_stages >= self.num_layers:  # the whole backbone (linear probing)
            for part in (self.rel_pos_bias, self.norm, self.fc_norm, self.mask_token):
                if part is not None:
                    part.requires_grad_(False)

    def train(self, mode: bool = True) -> BEiTViT:
        super().train(mode)
        for blk in self.blocks[:max(self.frozen_stages, 0)]:
            blk.eval()
        return self

    # ------------------------------------------------------------------ forward
    def embed(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Patch tokens with CLS, mask token and absolute position: (B, 1+N, C)."""
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        b, n, _ = x.shape
        if mask is not None:
            if self.mask_token is None:
                raise ValueError('a mask was given but the backbone has no mask token; '
                                 'build it with with_mask_token=True')
            w = mask.reshape(b, -1).to(x.dtype).unsqueeze(-1)
            if w.shape[1] != n:
                raise ValueError(f'mask has {w.shape[1]} cells per image, the image has {n} '
                                 'patches')
            x = x * (1 - w) + self.mask_token.to(x.dtype) * w
        x = torch.cat([self.cls_token.expand(b, -1, -1).to(x.dtype), x], dim=1)
        if self.pos_embed is not None:
            pos = self.pos_embed
            if pos.shape[1] != n + 1:
                raise ValueError(f'position embedding has {pos.shape[1] - 1} patch positions, '
                                 f'the input has {n} patches; use resize_pos_embed_()')
            x = x + pos
        return self.pos_drop(x)

    def shared_attn_bias(self, device_type: str = 'cpu') -> Optional[torch.Tensor]:
        """The shared relative position bias (1, heads, 1+N, 1+N), or None without one.

        Built once per forward and cast once to the autocast dtype when autocast is on for
        ``device_type`` (so no block adds an fp32 bias to bf16 scores or casts it again).
        """
        if self.rel_pos_bias is None:
            return None
        bias = self.rel_pos_bias().unsqueeze(0)
        if torch.is_autocast_enabled(device_type):
            bias = bias.to(torch.get_autocast_dtype(device_type))
        return bias

    def forward_tokens(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                       out_indices: Optional[Sequence[int]] = None,
                       attn_bias: Optional[torch.Tensor] = None,
                       last_rows: Optional[torch.Tensor] = None) -> Dict[int, torch.Tensor]:
        """Raw tokens (B, 1+N, C) after each requested block; the last one final-normed.

        ``attn_bias``: the result of :meth:`shared_attn_bias`, when the caller needs it too
        (BEiT v2's neck); computed here when not given. ``last_rows`` (B, R): token indices
        (0 = CLS) whose outputs the last requested block computes, alone: that entry is then
        (B, R, C) (keys and values still come from every token; the other rows' outputs are
        never needed by a loss on the masked tokens).
        """
        out_indices = self.out_indices if out_indices is None else out_indices
        x = self.embed(x, mask)
        shared = attn_bias if attn_bias is not None else self.shared_attn_bias(x.device.type)
        outs = {}
        last = max(out_indices)
        checkpointed = self.with_cp and self.training and torch.is_grad_enabled()
        for i, blk in enumerate(self.blocks[:last + 1]):
            rows = last_rows if i == last else None
            if checkpointed:
                x = checkpoint(blk, x, shared, rows, use_reentrant=False)
            else:
                x = blk(x, shared, rows)
            if i in out_indices:
                outs[i] = self.norm(x) if i == self.num_layers - 1 else x
        return outs

    def format_output(self, x: torch.Tensor) -> torch.Tensor:
        """Turn raw tokens (B, 1+N, C) into ``out_type``."""
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return pool_tokens(x, 'cls')
        if self.out_type == 'avg_featmap':
            pooled = pool_tokens(x, 'mean_patch')
            return self.fc_norm(pooled) if self.fc_norm is not None else pooled
        h, w = self.patch_resolution
        return patch_tokens(x).transpose(1, 2).reshape(x.shape[0], -1, h, w).contiguous()

    def forward(self, x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, ...]:
        outs = self.forward_tokens(x, mask)
        return tuple(self.format_output(outs[i]) for i in self.out_indices)

    # ------------------------------------------------------------------ layer decay
    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id for layer-wise lr decay, as in BEiT's fine-tuning code.

        Embeddings and tokens 0, block i -> i + 1, the shared relative position bias and
        everything after the blocks depth + 1 (full lr).

        Returns:
            (layer_id, num_layers + 2)
        """
        total = self.num_layers + 2
        if not param_name.startswith(prefix):
            return total - 1, total
        name = param_name[len(prefix):]
        if name.startswith(('cls_token', 'mask_token', 'pos_embed', 'patch_embed')):
            return 0, total
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, total
        return total - 1, total

    def resize_pos_embed_(self, src_size: Tuple[int, int]) -> None:
        """Utility for checkpoints of another resolution (learned absolute embedding)."""
        if self.pos_embed is not None:
            self.pos_embed.data = resize_pos_embed(self.pos_embed.data, src_size,
                                                   self.patch_resolution, mode='bicubic')
