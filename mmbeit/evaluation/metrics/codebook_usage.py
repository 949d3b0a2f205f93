"""Codebook usage of a tokenizer over a whole validation pass."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmbeit.registry import METRICS

from ...models.tokenizers.quantizer import codebook_stats


@METRICS.register_module()
class CodebookUsageMetric(BaseMetric):
    """Percentage of codes used, used-code count and perplexity of the predicted token ids.

    Reads ``pred_tokens`` (h, w) from each data sample (``VQKD`` predict mode, or any model
    that sets them). Each batch keeps only its (code, count) pairs, so the results gathered
    from all ranks stay small.

    Args:
        num_tokens (int): codebook size K.
        collect_device (str): Defaults to 'cpu'.
        prefix (str): Defaults to 'codebook'.

    Metrics: ``usage`` (% of K used), ``used_codes``, ``perplexity`` (exp of the entropy of
    the code distribution).
    """

    default_prefix = 'codebook'

    def __init__(self, num_tokens: int, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if num_tokens < 1:
            raise ValueError(f'num_tokens must be >= 1, got {num_tokens}')
        self.num_tokens = num_tokens

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        ids = [torch.as_tensor(s['pred_tokens']).reshape(-1) for s in data_samples]
        if not ids:
            return
        flat = torch.cat(ids).cpu()
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= self.num_tokens):
            raise ValueError(f'token ids outside [0, {self.num_tokens}): num_tokens does not '
                             'match the tokenizer')
        codes, counts = torch.unique(flat, return_counts=True)
        self.results.append((codes.numpy(), counts.numpy()))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        total = np.zeros(self.num_tokens, dtype=np.float64)
        for codes, counts in results:
            np.add.at(total, codes, counts)
        stats = codebook_stats(torch.from_numpy(total))
        return dict(usage=100.0 * stats['usage'], used_codes=float(stats['used_codes']),
                    perplexity=stats['perplexity'])
