"""BEiT v1 / v2 masked image modeling: predict a frozen tokenizer's ids at masked patches."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from mmbeit.registry import MODELS

from ..utils import AutocastWeights, masked_rows


def masked_positions(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Flat indices of the masked patches, into (B*N) patch ids and into (B*(1+N)) tokens.

    Args:
        mask (Tensor): (B, N) bool, True = masked.

    Returns:
        tuple[Tensor, Tensor]: (M,) patch indices and the (M,) token indices that skip each
        image's leading CLS token.
    """
    n = mask.shape[1]
    patch_index = mask.reshape(-1).nonzero().squeeze(1)
    return patch_index, patch_index + patch_index // n + 1


@MODELS.register_module()
class BEiT(BaseSelfSupervisor):
    """BEiT masked image modeling: v1 without a neck, v2 with a :class:`PatchAggregationNeck`.

    Step: target ids = tokenizer(view 2) without grad; backbone(view 1 with masked patches
    replaced by the mask token) -> tokens of the requested blocks; (v2) the neck adds the
    aggregation branch; the head classifies the M masked positions only.

    Tokenizer contract (``target_generator``): any registered ``nn.Module`` with
    ``tokenize(images: (B, 3, H2, W2) float) -> LongTensor (B, h, w)`` whose grid (h, w) is the
    backbone's patch grid, and an int attribute ``num_tokens`` (vocabulary size). It is frozen
    (no gradients, always in eval mode) and called under ``torch.no_grad``; it may pick its own
    precision inside (e.g. fp32 quantisation under autocast). Optionally
    ``tokenize_masked(images, mask: (B, h*w) bool) -> LongTensor (M,)``, the ids of the masked
    positions only (VQ-KD computes its last block for those tokens alone).

    Only the rows the loss reads are computed in the last block (of the backbone, and of v2's
    neck): the masked tokens (and v2's final CLS), when every image has the same number of
    masked patches; the rest of the step sees every token.

    Args:
        backbone (dict): a ``BEiTViT`` with ``with_mask_token=True``. v1: ``final_norm=True``
            and the last block in ``out_indices``; v2: see :class:`PatchAggregationNeck`.
        head (dict): ``BEiTV1Head`` (no neck) or ``BEiTV2Head`` (with neck).
        target_generator (dict): the tokenizer (VQ-KD for v2, DALL-E dVAE for v1, or any
            tokenizer that follows the contract above).
        neck (dict, optional): ``PatchAggregationNeck`` for BEiT v2. Defaults to None.
        data_preprocessor (dict, optional): ``TwoNormDataPreprocessor``: view 1 for the
            backbone and view 2 for the tokenizer, each with its own mean / std. Defaults to
            ImageNet mean / std for view 1 and [-1, 1] (VQ-KD's input) for view 2.
        init_cfg (dict, optional): MMEngine init config.
        frozen_cast_once (bool): under autocast, run the tokenizer from a copy whose linear /
            conv weights are cast once (:class:`~mmbeit.models.utils.AutocastWeights`, the
            same ids bit for bit) instead of autocast casting them at every call. Saves ~7 ms
            of a ~1 s CPU ViT-B step and costs the copy's memory (172 MB for the ViT-B
            tokenizer), so it is off by default. Defaults to False.

    Inputs:
        ``inputs``: [view 1 (B, 3, H, W), view 2 (B, 3, H2, W2)]; each data sample carries
        ``mask`` (h, w) bool (``BlockwiseMaskGenerator`` + ``PackInputs``).
    Returns (loss mode):
        dict with ``loss`` (+ ``loss_agg`` for v2), ``mlm_acc`` (+ ``mlm_acc_agg``).
    """

    def __init__(self, backbone: dict, head: dict, target_generator: dict,
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None, frozen_cast_once: bool = False) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(  # ImageNet mean / std; tokenizer view in [-1, 1]
                type='TwoNormDataPreprocessor', mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375], second_mean=[127.5] * 3, second_std=[127.5] * 3,
                to_rgb=True)
        # build with mmbeit's registry (mmpretrain's base class would pick its own BEiTViT
        # when no default scope is set)
        backbone, neck, head, target_generator, data_preprocessor = (
            MODELS.build(c) if isinstance(c, dict) else c
            for c in (backbone, neck, head, target_generator, data_preprocessor))
        super().__init__(backbone=backbone, neck=neck, head=head,
                         target_generator=target_generator,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.target_generator, 'tokenize'):
            raise TypeError(f'target_generator {type(self.target_generator).__name__} has no '
                            'tokenize(images) -> (B, h, w) ids')
        self.target_generator.requires_grad_(False)
        self.target_generator.eval()
        # not a submodule: no state, no DDP
        self._tokenizer_autocast = AutocastWeights() if frozen_cast_once else None
        if getattr(self.backbone, 'mask_token', None) is None:
            raise ValueError('BEiT needs backbone.with_mask_token=True')
        vocab = getattr(self.target_generator, 'num_tokens', None)
        if vocab is not None and vocab != self.head.num_tokens:
            raise ValueError(f'head.num_tokens={self.head.num_tokens} but the tokenizer has '
                             f'{vocab} tokens; make them equal')
        last = self.backbone.num_layers - 1
        if self.with_neck:
            self.neck.check_backbone(self.backbone)
        elif last not in self.backbone.out_indices:
            raise ValueError(f'BEiT v1 predicts from the last block: backbone.out_indices='
                             f'{list(self.backbone.out_indices)} must contain {last}')

    def train(self, mode: bool = True) -> BEiT:
        super().train(mode)
        self.target_generator.eval()
        return self

    def extract_feat(self, inputs: Union[torch.Tensor, List[torch.Tensor]]):
        """Backbone features of view 1, without a mask."""
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        return self.backbone(inputs)

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor,
                 mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Target ids (B, h, w) of the tokenizer view, or with ``mask`` (B, N) bool the (M,)
        ids of the masked positions (from the cast-once copy with ``frozen_cast_once``)."""
        tokenizer = self.target_generator
        if self._tokenizer_autocast is not None:
            tokenizer = self._tokenizer_autocast.get(tokenizer, images.device.type)
        if mask is not None and hasattr(tokenizer, 'tokenize_masked'):
            return tokenizer.tokenize_masked(images, mask)
        target = tokenizer.tokenize(images)
        if mask is None:
            return target
        if target.shape[0] != mask.shape[0] or target[0].numel() != mask.shape[1]:
            raise ValueError(f'the tokenizer gives a {tuple(target.shape[1:])} grid for the '
                             f'{tuple(images.shape[-2:])} tokenizer view, the mask has '
                             f'{mask.shape[1]} cells: match the second view size to the '
                             'backbone patch grid')
        return target.reshape(-1)[mask.reshape(-1)]

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        img, img_tokenizer = inputs[0], inputs[1]
        mask = torch.stack([torch.as_tensor(ds.mask) for ds in data_samples])
        mask = mask.to(img.device, torch.bool, non_blocking=True)
        mask = mask.flatten(1)  # (B, N)
        target = self.tokenize(img_tokenizer, mask)  # (M,)
        # the shared relative position bias, built once for the backbone and the neck
        bias = self.backbone.shared_attn_bias(img.device.type)
        rows = masked_rows(mask)
        if rows is None:  # images with different mask counts: every token, then a gather
            _, token_index = masked_positions(mask)
            tokens = self.backbone.forward_tokens(img, mask, attn_bias=bias)
            if not self.with_neck:  # v1: the backbone's final-normed last block
                last = tokens[self.backbone.num_layers - 1]
                feats = last.reshape(-1, last.shape[-1]).index_select(0, token_index)
                return self.head.loss(feats, target)
            return self.head.loss(*self.neck(tokens, bias, token_index), target)
        # the last block computes only the rows the loss reads: the masked tokens (and, for
        # v2's neck, the CLS token)
        if self.with_neck:
            last_rows = torch.cat([rows.new_zeros(rows.shape[0], 1), rows], dim=1)
        else:
            last_rows = rows
        tokens = self.backbone.forward_tokens(img, mask, attn_bias=bias, last_rows=last_rows)
        if not self.with_neck:
            return self.head.loss(tokens[self.backbone.num_layers - 1].flatten(0, 1), target)
        return self.head.loss(*self.neck(tokens, bias, masked_rows=rows), target)


@MODELS.register_module()
class BEiTV2(BEiT):
    """BEiT v2: :class:`BEiT` with the patch-aggregation neck required.

    Args: as :class:`BEiT`, with ``neck`` a ``PatchAggregationNeck`` and ``head`` a
    ``BEiTV2Head``.
    """

    def __init__(self, backbone: dict, head: dict, target_generator: dict, neck: dict,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None, frozen_cast_once: bool = False) -> None:
        if neck is None:
            raise ValueError('BEiTV2 needs a neck (PatchAggregationNeck); use BEiT for v1')
        super().__init__(backbone, head, target_generator, neck, data_preprocessor, init_cfg,
                         frozen_cast_once)
