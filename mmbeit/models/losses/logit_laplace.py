"""The DALL-E dVAE objective: logit-Laplace pixel likelihood (with its pixel mapping) and the
KL of the code posterior to the uniform prior.

Pixels in [0, 1] are squeezed into [eps, 1 - eps] (``map_pixels``) so that their logit is
finite; the dVAE decoder predicts, per pixel and channel, the location ``mu`` and the log-scale
``ln b`` of a Laplace distribution in logit space. The density on (0, 1) is

    p(x | mu, b) = exp(-|logit(x) - mu| / b) / (2 b x (1 - x)).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOGIT_LAPLACE_EPS = 0.1


def map_pixels(x: torch.Tensor, eps: float = LOGIT_LAPLACE_EPS) -> torch.Tensor:
    """[0, 1] -> [eps, 1 - eps]: ``x * (1 - 2 eps) + eps``. Any shape."""
    return x * (1 - 2 * eps) + eps


def unmap_pixels(x: torch.Tensor, eps: float = LOGIT_LAPLACE_EPS) -> torch.Tensor:
    """Inverse of :func:`map_pixels`, clamped to [0, 1]. Any shape."""
    return ((x - eps) / (1 - 2 * eps)).clamp(0, 1)


def logit_laplace_nll(x: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor,
                      reduction: str = 'mean') -> torch.Tensor:
    """Negative log-likelihood of mapped pixels under the logit-Laplace distribution.

    ``-log p = log 2 + ln b + log x + log(1 - x) + |logit(x) - mu| / b``, in nats.

    Args:
        x (Tensor): (B, C, H, W) mapped pixels, strictly inside (0, 1) (see :func:`map_pixels`).
        mu (Tensor): (B, C, H, W) predicted location in logit space.
        log_scale (Tensor): (B, C, H, W) predicted ``ln b``.
        reduction (str): 'mean' (nats per dimension), 'sum', or 'none'. Defaults to 'mean'.

    Returns:
        Tensor: a scalar, or (B, C, H, W) for ``reduction='none'``. Computed in fp32.
    """
    if x.shape != mu.shape or x.shape != log_scale.shape:
        raise ValueError(f'x {tuple(x.shape)}, mu {tuple(mu.shape)} and log_scale '
                         f'{tuple(log_scale.shape)} must have the same shape')
    x, mu, log_scale = x.float(), mu.float(), log_scale.float()
    log_x, log_1mx = torch.log(x), torch.log1p(-x)
    nll = (math.log(2.0) + log_scale + log_x + log_1mx
           + (log_x - log_1mx - mu).abs() * torch.exp(-log_scale))
    if reduction == 'mean':
        return nll.mean()
    if reduction == 'sum':
        return nll.sum()
    if reduction == 'none':
        return nll
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def kl_to_uniform(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """KL(softmax(logits) || uniform over V) per position, in nats: ``sum q log q + log V``.

    Args:
        logits (Tensor): (B, V, h, w) encoder logits (any layout, vocabulary on ``dim``).

    Returns:
        Tensor: (B, h, w) fp32, each in [0, log V].
    """
    log_q = F.log_softmax(logits.float(), dim=dim)
    return (log_q.exp() * log_q).sum(dim) + math.log(logits.shape[dim])
