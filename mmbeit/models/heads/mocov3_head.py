"""MoCo v3 head: the symmetrised contrastive loss of two views."""
from __future__ import annotations

from typing import Dict

import torch
from mmengine.model import BaseModule

from mmbeit.registry import MODELS

from .contrastive_loss import infonce_loss


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
        loss = (infonce_loss(q1, k2, self.temperature)
                + infonce_loss(q2, k1, self.temperature))
        return dict(loss=loss)
