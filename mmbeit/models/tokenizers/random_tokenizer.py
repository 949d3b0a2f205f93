"""A frozen random tokenizer: random patch projection + nearest of random unit codes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmbeit.registry import MODELS


@MODELS.register_module()
class RandomProjectionTokenizer(nn.Module):
    """Randomly initialised frozen tokenizer, a stand-in for VQ-KD / dVAE in tests and demos.

    Each ``patch_size`` cell is projected by a fixed random linear map to ``embed_dims``; its
    token is the code of largest cosine similarity in a fixed random codebook. Weights come
    from a private generator seeded with ``seed``, so every rank and every run builds the same
    tokenizer whatever the global random state. The weights are buffers (nothing to train).

    Args:
        num_tokens (int): vocabulary size V. Defaults to 8192.
        patch_size (int): cell side in pixels. Defaults to 16.
        embed_dims (int): code dimension. Defaults to 32.
        in_channels (int): Defaults to 3.
        seed (int): generator seed. Defaults to 0.

    Shapes:
        tokenize: images (B, 3, H, W) float -> LongTensor (B, H/p, W/p).
    """

    def __init__(self, num_tokens: int = 8192, patch_size: int = 16, embed_dims: int = 32,
                 in_channels: int = 3, seed: int = 0) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.patch_size = patch_size
        gen = torch.Generator().manual_seed(seed)
        fan_in = in_channels * patch_size * patch_size
        weight = torch.randn(embed_dims, in_channels, patch_size, patch_size, generator=gen)
        self.register_buffer('proj_weight', weight / fan_in ** 0.5)
        self.register_buffer('proj_bias', torch.randn(embed_dims, generator=gen) * 0.1)
        codes = F.normalize(torch.randn(num_tokens, embed_dims, generator=gen), dim=1)
        self.register_buffer('codebook', codes)

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[-1] % self.patch_size \
                or images.shape[-2] % self.patch_size:
            raise ValueError(f'expected images (B, C, H, W) with H, W multiples of '
                             f'{self.patch_size}, got {tuple(images.shape)}')
        with torch.autocast(images.device.type, enabled=False):  # ids must not flip in bf16
            z = F.conv2d(images.float(), self.proj_weight, self.proj_bias,
                         stride=self.patch_size)
            b, _, h, w = z.shape
            z = F.normalize(z.flatten(2).transpose(1, 2), dim=-1)  # (B, hw, D)
            return (z @ self.codebook.T).argmax(dim=-1).view(b, h, w)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokenize(images)
