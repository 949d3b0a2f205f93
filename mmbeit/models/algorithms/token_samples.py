"""Predict-mode output shared by the tokenizer-training algorithms."""
from __future__ import annotations

from typing import List, Optional

import torch
from mmpretrain.structures import DataSample


def token_data_samples(ids: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                       num_tokens: Optional[int] = None) -> List[DataSample]:
    """Token ids (B, h, w) -> one data sample per image with ``pred_tokens`` (h, w) and, when
    given, the vocabulary size as ``num_tokens`` metainfo."""
    if data_samples is None:
        data_samples = [DataSample() for _ in range(ids.shape[0])]
    for sample, tokens in zip(data_samples, ids):
        sample.set_field(tokens, 'pred_tokens')
        if num_tokens is not None:
            sample.set_field(num_tokens, 'num_tokens', field_type='metainfo')
    return data_samples
