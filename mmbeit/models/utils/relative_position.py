"""BEiT relative position bias: a learned table indexed by the 2D offset of two tokens."""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def relative_position_index(window_size: Tuple[int, int]) -> torch.Tensor:
    """Index into the bias table for every (query, key) pair, CLS included.

    Args:
        window_size (tuple[int, int]): patch grid (H, W).

    Returns:
        LongTensor (H*W+1, H*W+1): entries in [0, (2H-1)(2W-1)+3); the last three rows of the
        table are cls->token, token->cls and cls->cls, as in BEiT.
    """
    h, w = window_size
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij'))
    coords = coords.flatten(1)  # (2, N)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (N, N, 2)
    rel[:, :, 0] += h - 1
    rel[:, :, 1] += w - 1
    num_rel = (2 * h - 1) * (2 * w - 1)
    index = torch.zeros(h * w + 1, h * w + 1, dtype=torch.long)
    index[1:, 1:] = rel[:, :, 0] * (2 * w - 1) + rel[:, :, 1]
    index[0, 1:] = num_rel
    index[1:, 0] = num_rel + 1
    index[0, 0] = num_rel + 2
    return index


def _offset_sample_index(src_len: int, dst_len: int) -> torch.Tensor:
    """For each offset of a (2d-1)-long table axis, the fractional index into the (2s-1) one."""
    src_max, dst_max = (src_len - 1) // 2, (dst_len - 1) // 2
    if dst_max <= src_max or src_max < 2:  # shrinking (or a 2-patch axis): uniform scaling
        return (torch.arange(dst_len, dtype=torch.float64) + 0.5) * src_len / dst_len - 0.5
    lo, hi = 1.0, float(dst_max)  # q with 1 + q + ... + q^(src_max-1) = dst_max (BEiT)
    for _ in range(60):
        q = (lo + hi) / 2
        lo, hi = (lo, q) if sum(q ** i for i in range(src_max)) > dst_max else (q, hi)
    pos = np.array([sum(q ** i for i in range(k)) for k in range(src_max + 1)])  # offset k
    coords = np.concatenate([-pos[:0:-1], pos])  # where each source table entry lands
    dst = np.arange(-dst_max, dst_max + 1, dtype=np.float64)
    return torch.from_numpy(np.interp(dst, coords, np.arange(src_len, dtype=np.float64)))


def resize_relative_position_bias_table(table: torch.Tensor, src_size: Tuple[int, int],
                                        dst_size: Tuple[int, int]) -> torch.Tensor:
    """Resize a bias table trained on ``src_size`` patches to ``dst_size`` (bicubic on offsets).

    Enlarging follows BEiT's fine-tuning code: source offsets are placed on a geometric
    progression, so near offsets (which carry the locality) keep their place and only far ones
    spread out; plain scaling would move offset 1 to 27/47 of a step for 14 -> 24 patches.

    Args:
        table (Tensor): ((2Hs-1)(2Ws-1)+3, heads).
        src_size, dst_size (tuple[int, int]): patch grids.

    Returns:
        Tensor ((2Hd-1)(2Wd-1)+3, heads); the three CLS rows are kept as they are.
    """
    if tuple(src_size) == tuple(dst_size):
        return table
    sh, sw = 2 * src_size[0] - 1, 2 * src_size[1] - 1
    dh, dw = 2 * dst_size[0] - 1, 2 * dst_size[1] - 1
    if table.shape[0] != sh * sw + 3:
        raise ValueError(f'relative position bias table has {table.shape[0]} rows; a '
                         f'{tuple(src_size)} grid needs {sh * sw + 3}')
    grid, extra = table[:-3], table[-3:]
    grid = grid.T.reshape(1, -1, sh, sw).float()
    ys, xs = _offset_sample_index(sh, dh), _offset_sample_index(sw, dw)
    norm_y = ys / max(sh - 1, 1) * 2 - 1  # grid_sample coordinates, align_corners=True
    norm_x = xs / max(sw - 1, 1) * 2 - 1
    where = torch.stack(torch.meshgrid(norm_x, norm_y, indexing='xy'), dim=-1).float()
    grid = F.grid_sample(grid, where[None], mode='bicubic', padding_mode='border',
                         align_corners=True)
    grid = grid.reshape(-1, dh * dw).T.to(table.dtype)
    return torch.cat([grid, extra], dim=0)


class RelativePositionBias(nn.Module):
    """Learned relative position bias for one attention layer or shared by all.

    Args:
        window_size (tuple[int, int]): patch grid (H, W).
        num_heads (int): attention heads.

    Returns (forward):
        Tensor (heads, H*W+1, H*W+1), to add to the attention logits.
    """

    def __init__(self, window_size: Tuple[int, int], num_heads: int) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        self.num_heads = num_heads
        num_rel = (2 * window_size[0] - 1) * (2 * window_size[1] - 1) + 3
        self.relative_position_bias_table = nn.Parameter(torch.zeros(num_rel, num_heads))
        self.register_buffer('relative_position_index', relative_position_index(window_size),
                             persistent=False)

    def forward(self) -> torch.Tensor:
        n = self.relative_position_index.shape[0]
        # index_select: its backward (index_add_) is ~6x faster on CPU than indexing's
        bias = self.relative_position_bias_table.index_select(
            0, self.relative_position_index.view(-1))
        return bias.view(n, n, self.num_heads).permute(2, 0, 1).contiguous()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints trained at another resolution: resize the table to this grid
        key = prefix + 'relative_position_bias_table'
        if key in state_dict:
            table = state_dict[key]
            rows = self.relative_position_bias_table.shape[0]
            if table.shape[0] != rows:
                # the source grid is not stored; checkpoints are square (224 px, 512 px, ...)
                side = int(round(((table.shape[0] - 3) ** 0.5 + 1) / 2))
                if (2 * side - 1) ** 2 + 3 != table.shape[0]:
                    raise ValueError(f'{key}: {table.shape[0]} rows do not come from a square '
                                     'grid; resize it with resize_relative_position_bias_table')
                state_dict[key] = resize_relative_position_bias_table(
                    table, (side, side), self.window_size)
        state_dict.pop(prefix + 'relative_position_index', None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
