"""Per-image rows of the masked tokens, for computing a last block at those rows only."""
from __future__ import annotations

from typing import Optional

import torch


def masked_rows(mask: torch.Tensor, offset: int = 1) -> Optional[torch.Tensor]:
    """Each image's masked positions as (B, R) token indices, when every image has the same
    number R > 0 of masked patches (BEiT v2's block masks); else None.

    Args:
        mask (Tensor): (B, N) bool, True = masked.
        offset (int): added to the patch index (1: past a leading CLS token).

    Returns:
        LongTensor (B, R) in ascending order per image (the order of ``mask.nonzero()``), or
        None for ragged or empty masks.
    """
    if mask.shape[0] == 0:
        return None
    low, high = torch.stack(torch.aminmax(mask.sum(1))).tolist()  # one host sync
    if low == 0 or low != high:
        return None
    return mask.nonzero()[:, 1].view(mask.shape[0], -1) + offset
