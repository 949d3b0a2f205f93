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


def test_low_shot_probe_trains_each_draw_on_exactly_shots_per_class(monkeypatch):
    import importlib

    module = importlib.import_module('mmbeit.evaluation.linear_probe')
    seen = []

    def fake_probe(train_feats, train_labels, test_feats, test_labels, num_classes, **kw):
        seen.append(train_labels.clone())
        return float(len(seen))

    monkeypatch.setattr(module, 'linear_probe', fake_probe)
    xtr, ytr = _blobs(400, 1)
    xte, yte = _blobs(50, 2)
    mean = module.low_shot_linear_probe(xtr, ytr, xte, yte, num_classes=4, shots=3, draws=4)
    assert mean == (1 + 2 + 3 + 4) / 4
    assert all(torch.bincount(y, minlength=4).tolist() == [3] * 4 for y in seen)


def test_low_shot_probe_learns_blobs_and_rejects_rare_classes():
    from mmbeit.evaluation import low_shot_linear_probe

    xtr, ytr = _blobs(400, 1)
    xte, yte = _blobs(200, 2)
    assert low_shot_linear_probe(xtr, ytr, xte, yte, num_classes=4, shots=5, draws=2,
                                 epochs=100) > 90
    ytr[ytr == 3] = 0
    ytr[0] = 3
    with pytest.raises(ValueError, match='class 3 has only 1'):
        low_shot_linear_probe(xtr, ytr, xte, yte, num_classes=4, shots=5)
