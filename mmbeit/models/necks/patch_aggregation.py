"""BEiT v2 patch aggregation: final CLS + layer-l patch tokens -> shallow transformer."""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmbeit.registry import MODELS

from ..utils import TransformerBlock
from ..utils.weight_init import init_linear_and_norm


@MODELS.register_module()
class PatchAggregationNeck(BaseModule):
    """The BEiT v2 shallow decoder that forces the CLS token to aggregate the image.

    The final layer's CLS token is put in front of the patch tokens of backbone layer
    ``early_layers`` (1-based: 9 of 12 for ViT-B, 21 of 24 for ViT-L); ``num_layers`` blocks
    process them; one LayerNorm, shared by both branches as in the official code, normalises
    the final-layer tokens and the aggregated tokens. The backbone must therefore be built with
    ``final_norm=False`` and return the blocks ``early_layers - 1`` and its last one
    (``out_indices=[early_layers - 1, num_layers - 1]``); :meth:`check_backbone` enforces it.

    Args:
        embed_dims (int): C of the backbone.
        num_heads (int): attention heads of the shallow blocks.
        num_layers (int): depth of the shallow transformer. Defaults to 2.
        early_layers (int): which backbone block (1-based) feeds its patch tokens. Default 9.
        mlp_ratio (float): Defaults to 4.
        drop_rate (float): Defaults to 0.
        drop_path_rate (float): the backbone's; block ``early_layers + i`` gets the rate of the
            same position on the backbone's linear schedule, as in BEiT v2. Defaults to 0.
        layer_scale_init_value (float): 0.1 for Base, 1e-5 for Large. Defaults to 0.1.
        use_rel_pos_bias (bool): each shallow block learns its own relative position bias
            (needs ``window_size``); the backbone's shared bias is added in any case. Default
            False.
        window_size (tuple[int, int], optional): patch grid, for ``use_rel_pos_bias``.
        norm_eps (float): Defaults to 1e-6.
        with_cp (bool): activation checkpointing of the shallow blocks in training (as the
            backbone's ``with_cp``: the same loss and gradients). Defaults to False.
        init_cfg (dict, optional): MMEngine init config.

    Shapes:
        tokens {layer index: (B, 1+N, C)} -> two (B, N, C) tensors, or two (M, C) tensors when
        ``masked_index`` selects M positions.
    """

    def __init__(self, embed_dims: int, num_heads: int, num_layers: int = 2,
                 early_layers: int = 9, mlp_ratio: float = 4.0, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, layer_scale_init_value: float = 0.1,
                 use_rel_pos_bias: bool = False,
                 window_size: Optional[Tuple[int, int]] = None, norm_eps: float = 1e-6,
                 with_cp: bool = False, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if early_layers < 1:
            raise ValueError(f'early_layers is 1-based and must be >= 1, got {early_layers}')
        if use_rel_pos_bias and window_size is None:
            raise ValueError('use_rel_pos_bias=True needs window_size=(H, W), the patch grid')
        self.embed_dims = embed_dims
        self.early_layers = early_layers
        self.drop_path_rate = drop_path_rate
        self.with_cp = with_cp
        self.blocks = nn.ModuleList([
            TransformerBlock(embed_dims, num_heads, mlp_ratio, True, drop_rate, 0.0, 0.0,
                             layer_scale_init_value,
                             tuple(window_size) if use_rel_pos_bias else None, norm_eps)
            for _ in range(num_layers)
        ])
        self.norm = nn.LayerNorm(embed_dims, eps=norm_eps)
        self._init_blocks()

    def _init_blocks(self) -> None:
        init_linear_and_norm(self)
        for i, blk in enumerate(self.blocks):  # continue the backbone's depth scaling
            scale = math.sqrt(2.0 * (self.early_layers + i + 1))
            blk.attn.proj.weight.data.div_(scale)
            blk.mlp.fc2.weight.data.div_(scale)
            if blk.rel_pos_bias is not None:
                nn.init.trunc_normal_(blk.rel_pos_bias.relative_position_bias_table, std=0.02)

    @property
    def early_index(self) -> int:
        """0-based index of the backbone block whose patch tokens are aggregated."""
        return self.early_layers - 1

    def check_backbone(self, backbone: nn.Module) -> None:
        """Fail now, with the setting to change, if ``backbone`` does not fit this neck.

        Also sets the drop-path rates from the backbone's depth (BEiT v2's schedule).
        """
        depth = backbone.num_layers
        out_indices = list(backbone.out_indices)
        want = [self.early_index, depth - 1]
        if self.early_layers >= depth:
            raise ValueError(f'neck.early_layers={self.early_layers} must be below the '
                             f'backbone depth {depth} (9 for a 12-block ViT-B, 21 for ViT-L)')
        if sorted(out_indices) != want:
            raise ValueError(
                f'neck.early_layers={self.early_layers} needs backbone block {self.early_index} '
                f'and the last block {depth - 1}, but backbone.out_indices={out_indices}; set '
                f'backbone.out_indices=[{self.early_index}, {depth - 1}] or change '
                'neck.early_layers')
        if getattr(backbone, 'final_norm', False):
            raise ValueError('the neck applies the final LayerNorm shared by both branches; '
                             'build the backbone with final_norm=False')
        if backbone.embed_dims != self.embed_dims:
            raise ValueError(f'neck.embed_dims={self.embed_dims} differs from the backbone\'s '
                             f'{backbone.embed_dims}')
        rates = torch.linspace(0, self.drop_path_rate,
                               max(depth, self.early_layers + len(self.blocks))).tolist()
        for i, blk in enumerate(self.blocks):
            blk.drop_path.drop_prob = rates[self.early_layers + i]

    def forward(self, tokens: Dict[int, torch.Tensor],
                rel_pos_bias: Optional[torch.Tensor] = None,
                masked_index: Optional[torch.Tensor] = None,
                masked_rows: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Normalised final-layer and aggregated patch tokens.

        Args:
            tokens (dict[int, Tensor]): raw (B, 1+N, C) tokens by 0-based block index, from
                ``BEiTViT.forward_tokens``; needs ``early_layers - 1`` and the last block
                (the largest key).
            rel_pos_bias (Tensor, optional): the backbone's shared bias (heads, 1+N, 1+N).
            masked_index (Tensor, optional): (M,) indices into the flattened (B*(1+N))
                tokens; only those positions are normalised and returned.
            masked_rows (Tensor, optional): instead of ``masked_index`` when every image has
                R masked tokens: (B, R) token indices per image. The last block's entry is
                then the backbone's output at rows [0, *masked_rows] alone (B, 1+R, C), from
                ``forward_tokens(last_rows=...)``, and the last shallow block computes the R
                masked rows alone.

        Returns:
            tuple[Tensor, Tensor]: final, aggregated: (B, N, C) each, or (M, C) each (M = B*R
            with ``masked_rows``, in the order ``masked_index`` gives).
        """
        if self.early_index not in tokens:
            raise KeyError(f'the backbone returned blocks {sorted(tokens)}, the neck needs '
                           f'block {self.early_index} (early_layers={self.early_layers}); set '
                           f'backbone.out_indices=[{self.early_index}, last]')
        if masked_index is not None and masked_rows is not None:
            raise ValueError('give masked_index or masked_rows, not both')
        last = tokens[max(tokens)]
        if masked_rows is not None and last.shape[1] != masked_rows.shape[1] + 1:
            want = masked_rows.shape[1] + 1
            raise ValueError(f'with masked_rows {tuple(masked_rows.shape)} the last block\'s '
                             f'tokens must be its CLS and masked rows (B, {want}, C), got '
                             f'{tuple(last.shape)}: pass last_rows to forward_tokens')
        x = torch.cat([last[:, :1], tokens[self.early_index][:, 1:]], dim=1)
        checkpointed = self.with_cp and self.training and torch.is_grad_enabled()
        for i, blk in enumerate(self.blocks):
            rows = masked_rows if i == len(self.blocks) - 1 else None
            x = (checkpoint(blk, x, rel_pos_bias, rows, use_reentrant=False) if checkpointed
                 else blk(x, rel_pos_bias, rows))
        if masked_rows is not None:
            return self.norm(last[:, 1:]).flatten(0, 1), self.norm(x).flatten(0, 1)
        if masked_index is None:
            return self.norm(last[:, 1:]), self.norm(x[:, 1:])
        c = last.shape[-1]
        return (self.norm(last.reshape(-1, c).index_select(0, masked_index)),
                self.norm(x.reshape(-1, c).index_select(0, masked_index)))
