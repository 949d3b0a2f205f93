"""MoCo v3: a query encoder with a predictor learns to match a momentum key encoder's output."""
from __future__ import annotations

import copy
import math
from typing import Dict, List, Optional, Union

import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from mmbeit.registry import MODELS


def cosine_momentum(step: int, total_steps: int, base_momentum: float = 0.99) -> float:
    """MoCo v3's key-encoder momentum: ``1 - 0.5 * (1 + cos(pi * t / T)) * (1 - m0)``.

    Rises from ``base_momentum`` at step 0 to 1 at ``total_steps``.
    """
    if total_steps <= 0:
        raise ValueError(f'total_steps must be > 0, got {total_steps}')
    t = min(max(step, 0), total_steps)
    return 1.0 - 0.5 * (1.0 + math.cos(math.pi * t / total_steps)) * (1.0 - base_momentum)


@MODELS.register_module()
class MoCoV3(BaseSelfSupervisor):
    """MoCo v3 (Chen, Xie, He 2021) for ViT and ResNet backbones.

    Step: for two crops x1, x2 of each image, ``q_i = predictor(neck(backbone(x_i)))`` and
    (no grad) ``k_i = key_neck(key_backbone(x_i))``, where the key encoder is a momentum copy
    of backbone + neck updated before the keys are computed; loss =
    ``head.loss(q1, q2, k1, k2)`` (symmetrised InfoNCE over the keys of all ranks).

    ``micro_batch_size`` runs the backbones in chunks of that many images while the loss is
    still the full batch's: the query backbone's chunks are checkpointed (forward without
    stored activations; in backward each chunk is recomputed, with its random state replayed,
    and back-propagated one at a time), the key backbone's run without grad, and the projector,
    predictor and key projector (whose BatchNorm needs the batch's statistics) and the InfoNCE
    loss run on the whole batch. Activation memory is one chunk's, at the price of one more
    backbone forward; loss and gradients are the full batch's (up to float rounding; dropout /
    drop path draw their masks chunk by chunk, same law, other draws). Backbones with
    BatchNorm (ResNet) are refused: their statistics would be per chunk.

    The momentum follows :func:`cosine_momentum` of the runner's iteration and ``max_iters``
    (read from the message hub, so it is right after ``--resume``); outside a runner it stays
    ``base_momentum`` unless :meth:`set_progress` is called.

    Args:
        backbone (dict): ``MoCoV3ViT`` (``out_type='cls_token'``) or mmpretrain ``ResNet``.
        neck (dict): the projector, ``MoCoV3MLP`` (3 layers for ViT, 2 for ResNet).
        predictor (dict): ``MoCoV3MLP`` (2 layers; ``last_bn=False`` for ResNet).
        head (dict): ``MoCoV3ContrastiveHead``.
        base_momentum (float): m0 of the key encoder's EMA. Defaults to 0.99.
        micro_batch_size (int, optional): backbone chunk size per rank (see above); None runs
            the batch at once. Use it, not ``accumulative_counts``, for a large batch.
        data_preprocessor (dict, optional): defaults to ``SelfSupDataPreprocessor`` with
            ImageNet mean / std and ``to_rgb=True``.
        init_cfg (dict, optional): MMEngine init config.

    Inputs:
        ``inputs``: [view 1 (B, 3, H, W), view 2 (B, 3, H, W)] (mmpretrain's ``MultiView``
        with two pipelines + ``PackInputs``).
    Returns (loss mode):
        dict with ``loss`` and ``momentum`` (logged, not optimised).
    """

    def __init__(self, backbone: dict, neck: dict, predictor: dict, head: dict,
                 base_momentum: float = 0.99, micro_batch_size: Optional[int] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f'base_momentum must be in [0, 1], got {base_momentum}')
        if data_preprocessor is None:
            data_preprocessor = dict(type='SelfSupDataPreprocessor',
                                     mean=[123.675, 116.28, 103.53],
                                     std=[58.395, 57.12, 57.375], to_rgb=True)
        # build with mmbeit's registry: mmpretrain has its own MoCoV3ViT under the same name
        backbone, neck, predictor, head, data_preprocessor = (
            MODELS.build(c) if isinstance(c, dict) else c
            for c in (backbone, neck, predictor, head, data_preprocessor))
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.predictor = predictor
        if micro_batch_size is not None:
            if micro_batch_size < 1:
                raise ValueError(f'micro_batch_size must be >= 1 or None, got {micro_batch_size}')
            batch_norms = [n for n, m in self.backbone.named_modules() if isinstance(m, _BatchNorm)]
            if batch_norms:
                raise ValueError(
                    f'micro_batch_size={micro_batch_size} with a BatchNorm backbone '
                    f'({type(self.backbone).__name__}: {batch_norms[0]}, ...): its statistics '
                    'would be those of each chunk, not of the batch, so the step would not be '
                    'the full-batch step; leave micro_batch_size=None for this backbone')
        self.micro_batch_size = micro_batch_size
        self.base_momentum = base_momentum
        self.momentum = base_momentum
        self._progress: Optional[tuple] = None
        self.key_backbone = copy.deepcopy(self.backbone)
        self.key_neck = copy.deepcopy(self.neck)
        self.key_backbone.requires_grad_(False)
        self.key_neck.requires_grad_(False)
        out_c = getattr(self.neck, 'out_channels', None)
        in_c = getattr(self.predictor, 'in_channels', None)
        if out_c is not None and in_c is not None and out_c != in_c:
            raise ValueError(f'neck.out_channels={out_c} but predictor.in_channels={in_c}; '
                             'make them equal')

    def init_weights(self) -> None:
        """Initialise the query encoder, then start the key encoder as an exact copy of it."""
        super().init_weights()
        self.copy_query_to_key()

    @torch.no_grad()
    def copy_query_to_key(self) -> None:
        self.key_backbone.load_state_dict(self.backbone.state_dict())
        self.key_neck.load_state_dict(self.neck.state_dict())

    def key_params(self) -> List[torch.Tensor]:
        return list(self.key_backbone.parameters()) + list(self.key_neck.parameters())

    def query_params(self) -> List[torch.Tensor]:
        return list(self.backbone.parameters()) + list(self.neck.parameters())

    # ------------------------------------------------------------------ momentum
    def set_progress(self, step: int, total_steps: int) -> None:
        """Drive the momentum by hand (outside a runner); overrides the message hub."""
        self._progress = (step, total_steps)

    def current_momentum(self) -> float:
        """Cosine momentum of the current iteration (message hub's ``iter`` / ``max_iters``)."""
        if self._progress is not None:
            return cosine_momentum(*self._progress, self.base_momentum)
        hub = MessageHub.get_current_instance()
        total = hub.get_info('max_iters')
        if not total:
            return self.base_momentum
        return cosine_momentum(int(hub.get_info('iter', 0)), int(total), self.base_momentum)

    @torch.no_grad()
    def update_key_encoder(self, momentum: float) -> None:
        """key <- m * key + (1 - m) * query, parameters only (BN statistics are per encoder)."""
        torch._foreach_lerp_(self.key_params(), self.query_params(), 1.0 - momentum)

    # ------------------------------------------------------------------ forward
    def extract_feat(self, inputs: Union[torch.Tensor, List[torch.Tensor]]):
        """Query backbone features of (the first view of) ``inputs``."""
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        return self.backbone(inputs)

    def _chunked(self, backbone: nn.Module, x: torch.Tensor, with_grad: bool):
        """``backbone(x)`` chunk by chunk (``micro_batch_size``), outputs concatenated."""
        if self.micro_batch_size is None or x.shape[0] <= self.micro_batch_size:
            return backbone(x)
        outs = [checkpoint(backbone, chunk, use_reentrant=False) if with_grad else backbone(chunk)
                for chunk in x.split(self.micro_batch_size)]
        if isinstance(outs[0], torch.Tensor):
            return torch.cat(outs)
        return type(outs[0])(torch.cat(parts) for parts in zip(*outs))

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C_out) predictor output."""
        return self.predictor(self.neck(self._chunked(self.backbone, x, with_grad=True)))[0]

    @torch.no_grad()
    def key(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C_out) momentum projector output (no grad)."""
        return self.key_neck(self._chunked(self.key_backbone, x, with_grad=False))[0]

    def train_step(self, data, optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """Refuses gradient accumulation, which changes a contrastive loss silently."""
        counts = getattr(optim_wrapper, '_accumulative_counts', 1)
        if counts > 1:
            raise ValueError(
                f'optim_wrapper.accumulative_counts={counts}: MoCo v3 with accumulated '
                'micro-batches would contrast each micro-batch with its own negatives only, a '
                'different loss; for a large batch in little memory set '
                'model.micro_batch_size instead (the full batch\'s loss and gradients) and '
                'accumulative_counts=1')
        return super().train_step(data, optim_wrapper)

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError('MoCoV3 needs two views per image (MultiView with num_views=[1, 1]'
                             f'); got {type(inputs).__name__} of length '
                             f'{len(inputs) if isinstance(inputs, (list, tuple)) else 1}')
        view1, view2 = inputs
        q1, q2 = self.query(view1), self.query(view2)
        self.momentum = self.current_momentum()
        self.update_key_encoder(self.momentum)
        k1, k2 = self.key(view1), self.key(view2)
        losses = self.head.loss(q1, q2, k1, k2)
        losses['momentum'] = torch.tensor(self.momentum, device=q1.device)
        return losses
