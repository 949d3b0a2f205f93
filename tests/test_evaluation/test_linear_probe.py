"""Linear probe: learns separable features, stays at chance on noise, rejects bad shapes."""
from __future__ import annotations

import pytest
import torch

from mmbeit.evaluation.linear_probe import linear_probe


def _blobs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 16, generator=torch.Generator().manual_seed(0)) * 3
    labels = torch.randint(0, 4, (n,), generator=g)
    return centers[labels] + torch.randn(n, 16, generator=g), labels


def test_linear_probe_separates_gaussian_blobs():
    xtr, ytr = _blobs(400, 1)
    xte, yte = _blobs(200, 2)
    assert linear_probe(xtr, ytr, xte, yte, num_classes=4, epochs=100) > 95


def test_linear_probe_is_at_chance_on_noise():
    g = torch.Generator().manual_seed(3)
    acc = linear_probe(torch.randn(400, 16, generator=g), torch.randint(0, 4, (400,)),
                       torch.randn(400, 16, generator=g), torch.randint(0, 4, (400,)),
                       num_classes=4, epochs=100)
    assert acc < 40


def test_linear_probe_rejects_mismatched_channels():
    with pytest.raises(ValueError, match='channels'):
        linear_probe(torch.randn(4, 8), torch.zeros(4), torch.randn(4, 9), torch.zeros(4), 2)
