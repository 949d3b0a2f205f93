"""Absolute position embeddings: 2D sin-cos construction and resizing."""
from __future__ import annotations

from typing import Tuple

import torch


def build_2d_sincos_pos_embed(grid_size: Tuple[int, int], embed_dims: int,
                              temperature: float = 10000.0,
                              cls_token: bool = True) -> torch.Tensor:
    """MoCo v3's fixed 2D sin-cos embedding, oriented as moco-v3 / mmpretrain build it.

    Token ``1 + r * W + c`` (row r, column c) gets ``[sin(r w), cos(r w), sin(c w), cos(c w)]``
    with w = 1 / temperature^(i / (C/4)), i < C/4: the first half of the channels encodes the
    row. (moco-v3 names that half ``out_w`` because its grid is ``meshgrid(grid_w, grid_h)``
    with 'ij' indexing; on the square grids it is used with, its table is this one exactly. On
    a non-square grid its flattening does not follow the token order; here the halves always
    mean row, then column.)

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
    rows = grid_h.flatten()[:, None] * omega[None]
    cols = grid_w.flatten()[:, None] * omega[None]
    emb = torch.cat([rows.sin(), rows.cos(), cols.sin(), cols.cos()], dim=1).float()
    if cls_token:
        emb = torch.cat([torch.zeros(1, embed_dims), emb], dim=0)
    return emb[None]

