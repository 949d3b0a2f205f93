"""Multi-head self-attention with the kernel that is fastest for the device and dtype.

Kernel choice (:func:`attention`; measured with torch 2.13 on a 2-core AVX512-BF16 CPU,
``benchmarks/README.md``):

* CUDA, and CPU in fp32: ``F.scaled_dot_product_attention`` with any bias as a 4-D
  ``(1 | B, heads, Nq, Nk)`` additive mask (a 3-D mask sends CPU SDPA to its unfused math
  path; on CUDA the memory-efficient kernel takes the bias and returns its gradient).
* CPU in bf16 / fp16: the explicit softmax(q k^T / sqrt(d) + bias) v below. Torch's fused CPU
  kernel is 2.5-3.5x slower there at ViT sizes (N = 65 to 1025, forward and backward), while
  the two batched matmuls run at GEMM speed. Without gradients the batch is processed in
  chunks that keep each score block under ``SCORE_CHUNK`` elements.
* CPU with a bias that needs its gradient (the learned relative position bias in training):
  the explicit form in every dtype; the fused CPU kernel cannot return the bias gradient and
  SDPA's math fallback makes three extra passes over the scores.

``rows`` (:meth:`Attention.forward`) computes the outputs of some tokens only, with keys and
values from all of them: the last block of a MIM model whose loss reads only the masked tokens.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

SCORE_CHUNK = 1 << 23  # score elements per chunk without gradients (16 MiB in bf16)


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       bias: Optional[torch.Tensor] = None,
                       dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v, the scale folded into q (the smaller operand).

    Shapes: q (B, heads, Nq, d), k, v (B, heads, Nk, d), bias broadcastable to
    (B, heads, Nq, Nk) -> (B, heads, Nq, d).
    """
    # k as rows (one cheap copy out of the qkv projection) and its transpose as a view: bmm
    # reads it transposed, where a transposed k view would be copied column by column
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.contiguous().transpose(-2, -1))
    if bias is not None:
        scores = scores.add_(bias)  # matmul saves its inputs, not its output: in place is safe
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, training=True)
    return torch.matmul(weights, v)


def _chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
             bias: Optional[torch.Tensor]) -> torch.Tensor:
    """:func:`explicit_attention` without gradients, a few images at a time."""
    b, heads, nq, _ = q.shape
    step = max(1, SCORE_CHUNK // (heads * nq * k.shape[-2]))
    if step >= b:
        return explicit_attention(q, k, v, bias)
    out = q.new_empty(b, heads, nq, v.shape[-1])
    for i in range(0, b, step):
        part = bias if bias is None or bias.shape[0] == 1 else bias[i:i + step]
        out[i:i + step] = explicit_attention(q[i:i + step], k[i:i + step], v[i:i + step], part)
    return out


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              bias: Optional[torch.Tensor] = None, dropout_p: float = 0.0) -> torch.Tensor:
    """Scaled dot-product attention through the fastest exact kernel (module docstring).

    Shapes: q (B, heads, Nq, d), k, v (B, heads, Nk, d), bias (1 | B, heads, Nq, Nk) in the
    compute dtype, or None -> (B, heads, Nq, d).
    """
    if q.device.type == 'cpu':
        grad = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (q, k, v, bias))
        if q.dtype in (torch.bfloat16, torch.float16):
            if grad or dropout_p > 0.0:
                return explicit_attention(q, k, v, bias, dropout_p)
            return _chunked(q, k, v, bias)
        if grad and bias is not None and bias.requires_grad:
            return explicit_attention(q, k, v, bias, dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)


def gather_rows(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """x (B, N, ...) at the per-image token indices rows (B, R) -> (B, R, ...)."""
    index = rows.view(*rows.shape, *([1] * (x.dim() - 2))).expand(*rows.shape, *x.shape[2:])
    return torch.gather(x, 1, index)


def bias_rows(bias: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The query rows of an attention bias: (1 | B, heads, N, N), rows (B, R) ->
    (B, heads, R, N)."""
    b, r = rows.shape
    index = rows.view(b, 1, r, 1).expand(b, bias.shape[1], r, bias.shape[-1])
    return torch.gather(bias.expand(b, -1, -1, -1), 2, index)


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
        x (B, N, C), attn_bias (heads, N, N) or (1 | B, heads, N, N) -> (B, N, C); with
        ``rows`` (B, R) token indices, the outputs of those tokens only: (B, R, C).
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

    def forward(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None,
                rows: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.qkv.weight, self.qkv_bias())
        q, k, v = qkv.view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        if attn_bias is not None:
            if attn_bias.dim() == 3:
                attn_bias = attn_bias.unsqueeze(0)
            attn_bias = attn_bias.to(q.dtype)  # no-op when given in the compute dtype
        if rows is not None:  # queries of the requested tokens only
            q = gather_rows(q.transpose(1, 2), rows).transpose(1, 2)
            attn_bias = None if attn_bias is None else bias_rows(attn_bias, rows)
        x = attention(q, k, v, attn_bias, self.attn_drop if self.training else 0.0)
        x = x.transpose(1, 2).reshape(b, q.shape[2], c)
        return self.proj_drop(self.proj(x))
