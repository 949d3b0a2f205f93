"""Multi-head self-attention through torch's fused scaled-dot-product attention."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Self-attention with BEiT's q / v biases (no k bias) and an optional additive bias.

    Args:
        embed_dims (int): C.
        num_heads (int): heads; C must be divisible by it.
        qkv_bias (bool): learn q and v biases (the k bias is fixed at 0, as in BEiT / CLIP-free
            unilm code). Defaults to True.
        attn_drop (float): dropout on attention weights. Defaults to 0.
        proj_drop (float): dropout after the output projection. Defaults to 0.

    Shapes:
        x (B, N, C), attn_bias broadcastable to (B, heads, N, N) -> (B, N, C).
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = self.v_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def qkv_bias(self) -> Optional[torch.Tensor]:
        """The (3C,) bias [q_bias, 0, v_bias], or None."""
        if self.q_bias is None:
            return None
        return torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])

    def forward(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.qkv.weight, self.qkv_bias())
        q, k, v = qkv.view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        if attn_bias is not None:
            attn_bias = attn_bias.to(q.dtype)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_bias,
            dropout_p=self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))
