"""Masked image modeling heads of BEiT v1 (dVAE tokens) and BEiT v2 (VQ-KD tokens).

The heads see only the masked positions: the algorithm gathers the (M, C) masked tokens before
the LM head, so logits are never computed for the visible tokens.
"""
from __future__ import annotations

from typing import Dict

import torch
from mmengine.model import BaseModule
from torch import nn

from mmbeit.registry import MODELS

from ..losses import masked_token_loss


def _lm_head(embed_dims: int, num_tokens: int) -> nn.Linear:
    head = nn.Linear(embed_dims, num_tokens)
    nn.init.trunc_normal_(head.weight, std=0.02)
    nn.init.zeros_(head.bias)
    return head


@MODELS.register_module()
class BEiTV1Head(BaseModule):
    """LM head + cross-entropy against the tokenizer's ids (BEiT v1).

    Args:
        embed_dims (int): C of the backbone tokens.
        num_tokens (int): vocabulary size V of the tokenizer. Defaults to 8192.
        init_cfg (dict, optional): MMEngine init config. The LM head is initialised with
            trunc-normal std 0.02 and zero bias, as in BEiT.

    Shapes:
        feats (M, C) final-layer tokens at the masked positions, target (M,) -> losses.
    """

    def __init__(self, embed_dims: int, num_tokens: int = 8192,
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_tokens < 1 or embed_dims < 1:
            raise ValueError(f'{type(self).__name__}: num_tokens (the vocabulary size) and '
                             f'embed_dims must be >= 1, got {num_tokens} and {embed_dims}')
        self.embed_dims = embed_dims
        self.num_tokens = num_tokens
        self.lm_head = _lm_head(embed_dims, num_tokens)

    def loss(self, feats: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``{'loss': CE, 'mlm_acc': accuracy}`` over the M masked tokens."""
        loss, acc = masked_token_loss(self.lm_head(feats), target)
        return dict(loss=loss, mlm_acc=acc)


@MODELS.register_module()
class BEiTV2Head(BEiTV1Head):
    """LM head(s) for the final layer and the patch-aggregation branch (BEiT v2).

    Args:
        embed_dims (int): C.
        num_tokens (int): vocabulary size V. Defaults to 8192.
        shared_lm_head (bool): one LM head for both branches (BEiT v2's default); False gives
            the aggregation branch its own ``lm_head_agg``. Defaults to True.
        init_cfg (dict, optional): MMEngine init config.

    Shapes:
        feats, feats_agg (M, C) at the masked positions, target (M,) -> losses
        ``loss`` / ``loss_agg`` (summed by MMEngine) and ``mlm_acc`` / ``mlm_acc_agg``.
    """

    def __init__(self, embed_dims: int, num_tokens: int = 8192, shared_lm_head: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(embed_dims, num_tokens, init_cfg)
        self.lm_head_agg = None if shared_lm_head else _lm_head(embed_dims, num_tokens)

    def loss(self, feats: torch.Tensor, feats_agg: torch.Tensor,
             target: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.lm_head_agg is None:  # one GEMM for both branches
            logits, logits_agg = self.lm_head(torch.cat([feats, feats_agg])).chunk(2)
        else:
            logits, logits_agg = self.lm_head(feats), self.lm_head_agg(feats_agg)
        loss, acc = masked_token_loss(logits, target)
        loss_agg, acc_agg = masked_token_loss(logits_agg, target)
        return dict(loss=loss, loss_agg=loss_agg, mlm_acc=acc, mlm_acc_agg=acc_agg)
