"""Training the VQ-KD tokenizer: reconstruct a frozen teacher's patch features from codes.

One step: target = teacher(image) (frozen, no grad); z = proj(encoder(image)); codes =
quantize(z) (EMA codebook update, straight-through); prediction = decoder(codes);
loss = mean(1 - cos(prediction, target)) + commitment.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample
from torch import nn

from mmbeit.registry import MODELS

from ..tokenizers.quantizer import codebook_stats


def cosine_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean(1 - cos) over (B, N, C) pairs, computed in fp32."""
    return (1 - F.cosine_similarity(pred.float(), target.float(), dim=-1)).mean()


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
        data_preprocessor (dict, optional): Defaults to ``ClsDataPreprocessor`` with mean =
            std = 127.5 (RGB in [-1, 1]).
        init_cfg (dict, optional): MMEngine init config.

    Returns (loss mode): ``loss_cos``, ``loss_commit``, and, not summed into the loss,
    ``batch_usage`` (fraction of codes used by this step's global batch) and
    ``batch_perplexity``. Predict mode: data samples with ``pred_tokens`` (h, w).
    """

    def __init__(self, tokenizer: dict, teacher: dict,
                 input_range: Tuple[float, float] = (-1.0, 1.0),
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ClsDataPreprocessor', mean=[127.5] * 3,
                                     std=[127.5] * 3, to_rgb=True)
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.tokenizer = MODELS.build(tokenizer) if isinstance(tokenizer, dict) else tokenizer
        self.teacher = MODELS.build(teacher) if isinstance(teacher, dict) else teacher
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

    @property
    def quantizer(self):
        return self.tokenizer.quantize

    def teacher_targets(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen teacher features (B, N, C) of tokenizer-range images."""
        low, high = self.input_range
        with torch.no_grad():
            return self.teacher(((images - low) / (high - low)).clamp_(0, 1))

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
        losses = dict(loss_cos=cosine_distance(pred, target), loss_commit=out['loss_commit'])
        counts = self.quantizer.batch_counts
        if self.training and counts is not None:
            stats = codebook_stats(counts)
            device = images.device
            losses['batch_usage'] = torch.tensor(stats['usage'], device=device)
            losses['batch_perplexity'] = torch.tensor(stats['perplexity'], device=device)
        return losses

    @torch.no_grad()
    def predict(self, images: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None) -> List[DataSample]:
        """Token ids (h, w) per image as ``pred_tokens``."""
        ids = self.tokenizer.tokenize(images)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(ids.shape[0])]
        for sample, tokens in zip(data_samples, ids):
            sample.set_field(tokens, 'pred_tokens')
            sample.set_field(self.tokenizer.num_tokens, 'num_tokens', field_type='metainfo')
        return data_samples
