"""Plain-torch reference forward passes over release-layout state dicts (test helper).

Written from the published model definitions (unilm BEiT blocks, timm ViT blocks) with explicit
softmax attention, independent of mmbeit's modules, so converted models can be checked against
the original computation.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F


def unilm_relative_position_index(h: int, w: int) -> torch.Tensor:
    """BEiT's (N+1, N+1) index: offsets shifted to >= 0, row-major, 3 extra CLS rows."""
    n = h * w
    ys, xs = torch.div(torch.arange(n), w, rounding_mode='floor'), torch.arange(n) % w
    dy = ys[:, None] - ys[None, :] + (h - 1)
    dx = xs[:, None] - xs[None, :] + (w - 1)
    num_rel = (2 * h - 1) * (2 * w - 1)
    index = torch.empty(n + 1, n + 1, dtype=torch.long)
    index[1:, 1:] = dy * (2 * w - 1) + dx
    index[0, 1:], index[1:, 0], index[0, 0] = num_rel, num_rel + 1, num_rel + 2
    return index


def _bias(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    n = index.shape[0]
    return table[index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)


def _attention(x, qkv_w, qkv_b, proj_w, proj_b, heads, bias: Optional[torch.Tensor]):
    b, n, c = x.shape
    qkv = F.linear(x, qkv_w, qkv_b).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    logits = (q * (c // heads) ** -0.5) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
    return F.linear(out, proj_w, proj_b)


def _ln(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'], sd[name + '.bias'], 1e-6)


def _mlp(x, sd, p):
    h = F.gelu(F.linear(x, sd[p + 'mlp.fc1.weight'], sd[p + 'mlp.fc1.bias']))
    return F.linear(h, sd[p + 'mlp.fc2.weight'], sd[p + 'mlp.fc2.bias'])


def _embed(sd, x, patch):
    x = F.conv2d(x, sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'], stride=patch)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd['cls_token'].expand(x.shape[0], -1, -1), x], 1)
    return x + sd['pos_embed'] if 'pos_embed' in sd else x


@torch.no_grad()
def unilm_beit_forward(sd: Dict[str, torch.Tensor], x: torch.Tensor, depth: int, heads: int,
                       patch: int, final_norm: bool = True) -> torch.Tensor:
    """Tokens (B, 1+N, C) of a unilm BEiT backbone (shared or per-layer bias, layer scale)."""
    x = _embed(sd, x, patch)
    shared = (_bias(sd['rel_pos_bias.relative_position_bias_table'],
                    sd['rel_pos_bias.relative_position_index'])
              if 'rel_pos_bias.relative_position_bias_table' in sd else None)
    for i in range(depth):
        p = f'blocks.{i}.'
        bias = shared
        if p + 'attn.relative_position_bias_table' in sd:
            bias = _bias(sd[p + 'attn.relative_position_bias_table'],
                         sd[p + 'attn.relative_position_index'])
        qkv_b = torch.cat([sd[p + 'attn.q_bias'], torch.zeros_like(sd[p + 'attn.q_bias']),
                           sd[p + 'attn.v_bias']])
        y = _attention(_ln(x, sd, p + 'norm1'), sd[p + 'attn.qkv.weight'], qkv_b,
                       sd[p + 'attn.proj.weight'], sd[p + 'attn.proj.bias'], heads, bias)
        x = x + sd[p + 'gamma_1'] * y
        x = x + sd[p + 'gamma_2'] * _mlp(_ln(x, sd, p + 'norm2'), sd, p)
    return _ln(x, sd, 'norm') if final_norm else x


@torch.no_grad()
def timm_vit_forward(sd: Dict[str, torch.Tensor], x: torch.Tensor, depth: int, heads: int,
                     patch: int) -> torch.Tensor:
    """Final-normed tokens (B, 1+N, C) of a timm ViT (full qkv bias, no layer scale)."""
    x = _embed(sd, x, patch)
    for i in range(depth):
        p = f'blocks.{i}.'
        x = x + _attention(_ln(x, sd, p + 'norm1'), sd[p + 'attn.qkv.weight'],
                           sd[p + 'attn.qkv.bias'], sd[p + 'attn.proj.weight'],
                           sd[p + 'attn.proj.bias'], heads, None)
        x = x + _mlp(_ln(x, sd, p + 'norm2'), sd, p)
    return _ln(x, sd, 'norm')
