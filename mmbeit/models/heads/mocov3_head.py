"""MoCo v3 head: the symmetrised contrastive loss of two views."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmbeit.registry import MODELS
from mmbeit.utils.distributed import gather_no_grad

from ..losses import check_query_key, infonce_with_gathered_keys


@MODELS.register_module()
class MoCoV3ContrastiveHead(BaseModule):
    """Symmetrised InfoNCE: ``L(q1, k2) + L(q2, k1)``, see :func:`infonce_loss`.

    Args:
        temperature (float): T; 0.2 for ViT, 1.0 for ResNet. Defaults to 0.2.
        init_cfg (dict, optional): MMEngine init config (the head has no weights).

    Shapes:
        q1, q2: (N, C) predictor outputs of views 1 / 2; k1, k2: (N, C) momentum projector
        outputs of views 1 / 2.
    """

    def __init__(self, temperature: float = 0.2, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.temperature = temperature

    def loss(self, q1: torch.Tensor, q2: torch.Tensor, k1: torch.Tensor,
             k2: torch.Tensor) -> Dict[str, torch.Tensor]:
        check_query_key(q1, k2)
        check_query_key(q2, k1)
        # one all-gather for the keys of both views: (world * N, 2C) -> two (world * N, C)
        keys = torch.cat([F.normalize(k.detach().float(), dim=1) for k in (k1, k2)], dim=1)
        k1_all, k2_all = gather_no_grad(keys).chunk(2, dim=1)
        loss = (infonce_with_gathered_keys(q1, k2_all, self.temperature)
                + infonce_with_gathered_keys(q2, k1_all, self.temperature))
        return dict(loss=loss)
