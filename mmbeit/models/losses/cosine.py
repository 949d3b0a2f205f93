"""VQ-KD's reconstruction loss: cosine distance of decoded features to the teacher's."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean(1 - cos) over (B, N, C) pairs, computed in fp32."""
    return (1 - F.cosine_similarity(pred.float(), target.float(), dim=-1)).mean()
