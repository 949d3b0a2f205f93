"""Training the VQ-KD tokenizer: reconstruct a frozen teacher's patch features from codes.

One step: target = teacher(image) (frozen, no grad); z = proj(encoder(image)); codes =
quantize(z) (EMA codebook update, straight-through); prediction = decoder(codes);
loss = mean(1 - cos(prediction, target)) + commitment.

Teachers whose patch features all point along one shared direction (common for ViTs whose final
LayerNorm bias dominates, e.g. a small MoCo v3 model) make the cosine loss nearly zero for a
constant prediction, and the codes learn nothing; ``target_center_momentum`` subtracts a running
mean of the teacher's features from the targets, and the first training step warns when the
raw targets look like that.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import nn

from mmbeit.registry import MODELS
from mmbeit.utils.distributed import all_reduce_sum

from ..losses import cosine_distance
from ..tokenizers.quantizer import batch_usage_and_perplexity
from ..utils import AutocastWeights
from .token_samples import token_data_samples

# warn when a constant prediction already gets the cosine loss below this
SHARED_DIRECTION_WARN_LOSS = 0.05


@MODELS.register_module()
class VQKD(BaseModel):
    """Vector-quantised knowledge distillation (BEiT v2 tokenizer training).

    Args:
        tokenizer (dict): a :class:`VQKDTokenizer` with a decoder whose ``target_dims`` equals
            the teacher's ``out_dims``.
        teacher (dict): a frozen teacher (``CLIPTeacher``, ``DINOTeacher``,
            ``BackboneTeacher``) taking [0, 1] images; its patch grid must be the tokenizer's.
        input_range (tuple[float, float]): value range of the preprocessed images the
            tokenizer sees; mapped affinely to [0, 1] for the teacher, which normalises with
            its own mean / std. Defaults to (-1, 1).
        target_center_momentum (float, optional): subtract a running mean ``c`` (C,) of the
            teacher's features from the targets: the first training batch sets ``c`` to its
            mean, later ones update ``c = m * c + (1 - m) * batch_mean``, all-reduced over
            ranks, kept in the checkpoint. None (default, as the official recipe) keeps the raw
            teacher features.
        data_preprocessor (dict, optional): Defaults to ``ClsDataPreprocessor`` with mean =
            std = 127.5 (RGB in [-1, 1]).
        init_cfg (dict, optional): MMEngine init config.
        frozen_cast_once (bool): under autocast, run the teacher from a copy whose linear /
            conv weights are cast once (:class:`~mmbeit.models.utils.AutocastWeights`) instead
            of at every call: a few ms per step on CPU for the copy's memory (172 MB for a
            ViT-B teacher). Defaults to False.

    Returns (loss mode): ``loss_cos``, ``loss_commit``, ``loss_entropy`` (with the
    quantizer's ``entropy_weight``), and, not summed into the loss,
    ``batch_usage`` (fraction of codes used by this step's global batch) and
    ``batch_perplexity``. Predict mode: data samples with ``pred_tokens`` (h, w).
    """

    def __init__(self, tokenizer: dict, teacher: dict,
                 input_range: Tuple[float, float] = (-1.0, 1.0),
                 target_center_momentum: Optional[float] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None, frozen_cast_once: bool = False) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClsDataPreprocessor', mean=[127.5] * 3,
                                     std=[127.5] * 3, to_rgb=True)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.tokenizer = MODELS.build(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        self.teacher = MODELS.build(teacher) if isinstance(teacher, dict) else teacher
        # not a submodule: no state, no DDP
        self._teacher_autocast = AutocastWeights() if frozen_cast_once else None
        if getattr(self.tokenizer, 'decoder', None) is None:
            raise ValueError('VQKD training needs a tokenizer with a decoder')
        out_dims = getattr(self.teacher, 'out_dims', None)
        if out_dims is not None and out_dims != self.tokenizer.target_dims:
            raise ValueError(f'the teacher gives {out_dims}-d features but the tokenizer '
                             f'decodes to target_dims={self.tokenizer.target_dims}; make them '
                             'equal')
        low, high = input_range
        if not high > low:
            raise ValueError(f'input_range must be (low, high) with high > low, got '
                             f'{input_range}')
        self.input_range = (float(low), float(high))
        if target_center_momentum is not None and not 0 <= target_center_momentum < 1:
            raise ValueError(f'target_center_momentum must be in [0, 1), got '
                             f'{target_center_momentum}')
        self.target_center_momentum = target_center_momentum
        if target_center_momentum is not None:
            dims = self.tokenizer.target_dims
            self.register_buffer('target_center', torch.zeros(dims))
            self.register_buffer('target_center_ready', torch.zeros((), dtype=torch.bool))
        self._targets_checked = False

    @property
    def quantizer(self):
        return self.tokenizer.quantize

    def teacher_targets(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen teacher features (B, N, C) of tokenizer-range images (centred, in fp32, when
        ``target_center_momentum`` is set)."""
        low, high = self.input_range
        with torch.no_grad():
            teacher = self.teacher
            if self._teacher_autocast is not None:
                teacher = self._teacher_autocast.get(teacher, images.device.type)
            target = teacher(((images - low) / (high - low)).clamp_(0, 1))
            if self.training and not self._targets_checked:
                self._check_target_spread(target)
            if self.target_center_momentum is None:
                return target
            if self.training:
                self._update_center(target)
            return target.float() - self.target_center  # fp32: the shared part cancels

    def _update_center(self, target: torch.Tensor) -> None:
        flat = target.float().flatten(0, -2)
        stats = all_reduce_sum(torch.cat([flat.sum(0), flat.new_tensor([flat.shape[0]])]))
        batch_mean = stats[:-1] / stats[-1]
        if not bool(self.target_center_ready):
            self.target_center.copy_(batch_mean)
            self.target_center_ready.fill_(True)
        else:  # a non-finite batch (a diverged step) leaves the centre as it was
            m = self.target_center_momentum
            moved = self.target_center * m + batch_mean * (1 - m)
            self.target_center.copy_(torch.where(torch.isfinite(moved), moved,
                                                 self.target_center))

    def _check_target_spread(self, target: torch.Tensor) -> None:
        """Warn once if a constant prediction already gets a tiny cosine loss."""
        self._targets_checked = True
        unit = F.normalize(target.float().flatten(0, -2), dim=-1)
        constant_loss = float(1 - (unit @ F.normalize(unit.mean(0), dim=0)).mean())
        if constant_loss < SHARED_DIRECTION_WARN_LOSS and self.target_center_momentum is None:
            print_log(f'VQKD: the teacher\'s patch features share one direction (a constant '
                      f'prediction gets cosine loss {constant_loss:.4f}), so the codes can '
                      'learn little; set model.target_center_momentum (e.g. 0.9) to centre '
                      'the targets', logger='current', level=30)

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None, mode: str = 'tensor'):
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.tokenizer.tokenize(inputs)
        raise RuntimeError(f'invalid mode "{mode}"; use loss, predict or tensor')

    def loss(self, images: torch.Tensor, data_samples: Optional[List[DataSample]] = None
             ) -> Dict[str, torch.Tensor]:
        target = self.teacher_targets(images)
        out = self.tokenizer.reconstruct(images)
        pred = out['features']
        if pred.shape[:2] != target.shape[:2]:
            raise ValueError(f'the tokenizer predicts {pred.shape[1]} patches, the teacher '
                             f'gives {target.shape[1]}: their patch grids must match')
        losses = dict(loss_cos=cosine_distance(pred, target))
        losses.update((k, v) for k, v in out.items() if k.startswith('loss_'))  # quantizer's
        counts = self.quantizer.batch_counts
        if self.training and counts is not None:
            losses['batch_usage'], losses['batch_perplexity'] = batch_usage_and_perplexity(counts)
        return losses

    @torch.no_grad()
    def predict(self, images: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Token ids (h, w) per image as ``pred_tokens``."""
        return token_data_samples(self.tokenizer.tokenize(images), data_samples,
                                  self.tokenizer.num_tokens)
