"""Absolute position embeddings: 2D sin-cos construction and resizing."""
from __future__ import annotations

from typing import Tuple

import torch


def build_2d_sincos_pos_embed(grid_size: Tuple[int, int], embed_dims: int,
                              temperature: float = 10000.0,
                              cls_token: bool = True) -> torch.Tensor:
    """MoCo v3's fixed 2D sin-cos embedding.

    The first half of the channels encodes the column (w) and the second the row (h), each as
    [sin(pos * omega), cos(pos * omega)] with omega = 1 / temperature^(i / (C/4)).

    Args:
        grid_size (tuple[int, int]): patch grid (H, W).
        embed_dims (int): C, a multiple of 4.
        temperature (float): Defaults to 10000.
        cls_token (bool): prepend a zero vector for the CLS token. Defaults to True.

    Returns:
        Tensor (1, [1+] H*W, C).
    """
    if embed_dims % 4 != 0:
        raise ValueError(f'2D sin-cos position embedding needs embed_dims % 4 == 0, '
                         f'got {embed_dims}')
    h, w = grid_size
    grid_h, grid_w = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                                    torch.arange(w, dtype=torch.float64), indexing='ij')
    quarter = embed_dims // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    out_w = grid_w.flatten()[:, None] * omega[None]
    out_h = grid_h.flatten()[:, None] * omega[None]
    emb = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1).float()
    if cls_token:
        emb = torch.cat([torch.zeros(1, embed_dims), emb], dim=0)
    return emb[None]

