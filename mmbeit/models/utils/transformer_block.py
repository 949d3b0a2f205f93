"""Pre-norm ViT block with optional relative position bias and layer scale (BEiT style)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from .attention import Attention, gather_rows
from .drop_path import DropPath
from .relative_position import RelativePositionBias


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (C -> hidden -> C)."""

    def __init__(self, embed_dims: int, hidden_dims: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, embed_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerBlock(nn.Module):
    """x + gamma_1 * Attn(LN(x)); x + gamma_2 * MLP(LN(x)).

    Args:
        embed_dims (int): C.
        num_heads (int): attention heads.
        mlp_ratio (float): hidden size of the MLP over C. Defaults to 4.
        qkv_bias (bool): q / v biases. Defaults to True.
        drop_rate, attn_drop_rate, drop_path_rate (float): dropouts. Default to 0.
        layer_scale_init_value (float): init of the per-channel gammas; 0 disables them.
        window_size (tuple[int, int], optional): give it for a per-layer relative position
            bias (``attn_rel_pos``); leave None when the bias is shared or absent.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.

    Shapes:
        x (B, N, C) -> (B, N, C); with ``rows`` (B, R) token indices, the outputs of those
        tokens only (B, R, C): keys and values come from all N tokens, the attention output,
        residuals and MLP are computed for the R rows (a MIM model's last block, whose loss
        reads the masked tokens alone).
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, layer_scale_init_value: float = 0.0,
                 window_size: Optional[Tuple[int, int]] = None, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = Attention(embed_dims, num_heads, qkv_bias, attn_drop_rate, drop_rate)
        self.rel_pos_bias = (RelativePositionBias(window_size, num_heads)
                             if window_size is not None else None)
        self.drop_path = DropPath(drop_path_rate)
        self.norm2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop_rate)
        if layer_scale_init_value > 0:
            self.gamma_1 = nn.Parameter(torch.full((embed_dims,), float(layer_scale_init_value)))
            self.gamma_2 = nn.Parameter(torch.full((embed_dims,), float(layer_scale_init_value)))
        else:
            self.gamma_1 = self.gamma_2 = None

    def _residual(self, x: torch.Tensor, y: torch.Tensor,
                  gamma: Optional[torch.Tensor]) -> torch.Tensor:
        """x + drop_path(gamma * y); one fused ``addcmul`` pass when drop path is inactive."""
        if self.drop_path.drop_prob > 0.0 and self.training:
            return x + self.drop_path(y if gamma is None else gamma * y)
        return x + y if gamma is None else torch.addcmul(x, gamma, y)

    def forward(self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None,
                rows: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.rel_pos_bias is not None:
            own = self.rel_pos_bias()
            attn_bias = own if attn_bias is None else attn_bias + own.to(attn_bias.dtype)
        y = self.attn(self.norm1(x), attn_bias, rows)
        x = self._residual(x if rows is None else gather_rows(x, rows), y, self.gamma_1)
        return self._residual(x, self.mlp(self.norm2(x)), self.gamma_2)
