"""CLIP image tower (OpenAI checkpoint layout) as a frozen VQ-KD teacher."""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmbeit.registry import MODELS
from mmbeit.utils import get_state_dict, strip_prefix

from ..utils.attention import attention
from .base import FrozenTeacher

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), CLIP's activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class CLIPAttention(nn.Module):
    """Self-attention with ``in_proj_weight`` (3C, C) / ``in_proj_bias`` and ``out_proj``
    (the ``nn.MultiheadAttention`` names of the OpenAI checkpoint), through :func:`attention`."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        return self.out_proj(x)


class CLIPResBlock(nn.Module):
    """x + attn(ln_1(x)); x + mlp(ln_2(x)), mlp = c_fc -> QuickGELU -> c_proj."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CLIPAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module('c_fc', nn.Linear(width, width * 4))
        self.mlp.add_module('gelu', QuickGELU())
        self.mlp.add_module('c_proj', nn.Linear(width * 4, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


@MODELS.register_module()
class CLIPTeacher(FrozenTeacher):
    """CLIP ViT image tower; features = patch tokens after ``ln_post`` and ``@ proj``.

    Loads the OpenAI layout: ``visual.conv1.weight`` (no bias), ``visual.class_embedding``,
    ``visual.positional_embedding``, ``visual.ln_pre``, ``visual.transformer.resblocks.N.{ln_1,
    attn.in_proj_weight, attn.in_proj_bias, attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}``,
    ``visual.ln_post``, ``visual.proj`` (width, out_dims). The whole CLIP state dict (text
    tower keys are ignored) or the image tower alone, with or without ``visual.``, works.

    Args:
        img_size (int): Defaults to 224.
        patch_size (int): Defaults to 16.
        width (int): Defaults to 768.
        layers (int): Defaults to 12.
        heads (int): Defaults to width // 64.
        out_dims (int): joint embedding size. Defaults to 512.
        checkpoint (str, optional): local OpenAI CLIP state dict file.
        mean, std: CLIP's normalisation on [0, 1] images.

    Shapes: (B, 3, H, W) in [0, 1] -> (B, (H/p)(W/p), out_dims).
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, width: int = 768,
                 layers: int = 12, heads: Optional[int] = None, out_dims: int = 512,
                 checkpoint: Optional[str] = None, mean=CLIP_MEAN, std=CLIP_STD) -> None:
        super().__init__(mean, std, checkpoint)
        grid = img_size // patch_size
        self.out_dims = out_dims
        self.conv1 = nn.Conv2d(3, width, patch_size, patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(
            CLIPResBlock(width, heads or width // 64) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, out_dims))
        self.finish_init()

    def random_init(self) -> None:
        width = self.class_embedding.shape[0]
        nn.init.normal_(self.class_embedding, std=width ** -0.5)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.proj, std=width ** -0.5)
        for blk in self.transformer.resblocks:
            nn.init.normal_(blk.attn.in_proj_weight, std=width ** -0.5)
            nn.init.zeros_(blk.attn.in_proj_bias)

    def convert_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        state_dict = get_state_dict(checkpoint)
        if any(k.startswith('visual.') for k in state_dict):
            state_dict = strip_prefix(state_dict, 'visual.')
        return state_dict

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv1(images).flatten(2).transpose(1, 2)  # (B, N, C)
        b, n, c = x.shape
        if n + 1 != self.positional_embedding.shape[0]:
            raise ValueError(f'CLIPTeacher: {n} patches, the position embedding has '
                             f'{self.positional_embedding.shape[0] - 1}')
        cls = self.class_embedding.to(x.dtype).expand(b, 1, c)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        for blk in self.transformer.resblocks:
            x = blk(x)
        return self.ln_post(x[:, 1:]) @ self.proj.to(x.dtype)
