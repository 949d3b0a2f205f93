"""Multi-head self-attention through torch's fused scaled-dot-product attention.

Kernel choice (checked with torch.profiler on torch 2.13):

* no bias, or a bias that needs no gradient: ``F.scaled_dot_product_attention`` with the bias
  as a 4-D ``(1 | B, heads, N, N)`` additive mask. A 3-D mask sends CPU SDPA to the unfused
  math path even without gradients; a 4-D one runs the fused CPU flash kernel (forward and
  backward). On CUDA the memory-efficient kernel takes the additive bias.
* a bias that needs its gradient (the learned relative position bias while training): on CUDA
  still SDPA (the memory-efficient kernel returns the bias gradient); on CPU the fused kernel
  cannot return it and SDPA falls back to its math path, which scales q and k separately and
  runs a NaN-safe softmax (three extra passes over the (B, heads, N, N) scores). The lean
  explicit form below computes the same softmax(QK^T / sqrt(d) + bias) V with fewer passes.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def _explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        bias: torch.Tensor, dropout_p: float) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v, the scale folded into q (the smaller operand).

    Shapes: q, k, v (B, heads, N, d), bias broadcastable to (B, heads, N, N) -> (B, heads, N, d).
    """
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))
    scores = scores.add_(bias)  # matmul saves its inputs, not its output: in place is safe
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, training=True)
    return torch.matmul(weights, v)


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
        x (B, N, C), attn_bias (heads, N, N) or (1 | B, heads, N, N) -> (B, N, C).
        Give the bias in the compute dtype (e.g. bf16 under autocast) to skip a cast per call.
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
            # the fixed zero k bias, kept so that each call needs one cat and no allocation
            self.register_buffer('k_bias', torch.zeros(embed_dims), persistent=False)
        else:
            self.q_bias = self.v_bias = self.k_bias = None
        self.attn_drop = attn_drop
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def qkv_bias(self) -> Optional[torch.Tensor]:
        """The (3C,) bias [q_bias, 0, v_bias], or None."""
        if self.q_bias is None:
            return None
        return torch.cat((self.q_bias, self.k_bias.to(self.q_bias.dtype), self.v_bias))

    def forward(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.qkv.weight, self.qkv_bias())
        q, k, v = qkv.view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        dropout_p = self.attn_drop if self.training else 0.0
        if attn_bias is None:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            if attn_bias.dim() == 3:  # 4-D masks reach the fused CPU kernel
                attn_bias = attn_bias.unsqueeze(0)
            attn_bias = attn_bias.to(q.dtype)  # no-op when given in the compute dtype
            if (q.device.type == 'cpu' and attn_bias.requires_grad
                    and torch.is_grad_enabled()):
                x = _explicit_attention(q, k, v, attn_bias, dropout_p)
            else:
                x = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias,
                                                   dropout_p=dropout_p)
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))
