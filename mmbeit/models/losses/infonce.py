"""InfoNCE of MoCo v3 over the keys of the whole global batch (gathered from every rank)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mmbeit.utils.distributed import gather_no_grad, get_rank


def check_query_key(query: torch.Tensor, key: torch.Tensor) -> None:
    if query.ndim != 2 or query.shape != key.shape:
        raise ValueError(f'query and key must both be (N, C); got {tuple(query.shape)} and '
                         f'{tuple(key.shape)}')


def infonce_loss(query: torch.Tensor, key: torch.Tensor, temperature: float) -> torch.Tensor:
    """MoCo v3's contrastive loss of one (query, key) pair of views, scaled by 2T.

    The keys of every rank are gathered without gradient (keys come from the momentum encoder);
    query i of rank r is positive with global key ``i + N * r``. Computed in fp32 (the logits
    of a bf16 / fp16 forward would lose the 1/T-scaled differences).

    Args:
        query (Tensor): (N, C) queries of this rank (not normalised).
        key (Tensor): (N, C) keys of this rank (not normalised); no gradient flows into them.
        temperature (float): T (0.2 for ViT, 1.0 for ResNet).

    Returns:
        Tensor: scalar, ``2T * CE(q . k_all^T / T, arange(N) + N * rank)``, mean over this
        rank's N queries (DDP's gradient average then equals the loss over the global batch).
    """
    check_query_key(query, key)
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    k_all = gather_no_grad(F.normalize(key.detach().float(), dim=1))  # (world * N, C)
    return infonce_with_gathered_keys(query, k_all, temperature)


def infonce_with_gathered_keys(query: torch.Tensor, k_all: torch.Tensor,
                               temperature: float) -> torch.Tensor:
    """:func:`infonce_loss` given ``k_all`` (world * N, C): the normalised keys of all ranks."""
    q = F.normalize(query.float(), dim=1)
    logits = q @ k_all.t() / temperature
    n = q.shape[0]
    labels = torch.arange(n, device=q.device) + n * get_rank()
    return F.cross_entropy(logits, labels) * (2.0 * temperature)
