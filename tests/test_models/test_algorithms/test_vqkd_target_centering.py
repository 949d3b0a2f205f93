"""VQKD target centering: running mean of teacher features, all tokens, resumable, warned."""
from __future__ import annotations

from unittest import mock

import pytest
import torch
from torch import nn

from mmbeit.models.algorithms import VQKD

SHARED = torch.linspace(5.0, 10.0, 32)  # one direction every patch feature shares


class SharedDirectionTeacher(nn.Module):
    """(B, 3, 32, 32) in [0, 1] -> (B, 16, 32): small image-dependent part + a big constant."""

    out_dims = 32

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.reshape(images.shape[0], 16, -1)[..., :32] + SHARED


def _model(**kwargs) -> VQKD:
    tokenizer = dict(type='VQKDTokenizer', encoder=dict(
        arch=dict(embed_dims=32, num_layers=1, num_heads=2), img_size=32, patch_size=8),
        num_tokens=8, code_dims=4, decoder=dict(embed_dims=32, num_layers=1, num_heads=2),
        target_dims=32)
    return VQKD(tokenizer=tokenizer, teacher=SharedDirectionTeacher(), **kwargs).train()


def _raw(model: VQKD, x: torch.Tensor) -> torch.Tensor:
    return model.teacher((x + 1) / 2)


def test_center_is_first_batch_mean_then_ema_over_all_tokens():
    model = _model(target_center_momentum=0.9)
    x1, x2 = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(6, 3, 32, 32) * 2 - 1
    t1 = model.teacher_targets(x1)
    mean1 = _raw(model, x1).reshape(-1, 32).mean(0)
    assert torch.allclose(model.target_center, mean1, atol=1e-6)
    assert torch.allclose(t1, _raw(model, x1) - mean1, atol=1e-6)
    t2 = model.teacher_targets(x2)
    center = 0.9 * mean1 + 0.1 * _raw(model, x2).reshape(-1, 32).mean(0)
    assert torch.allclose(model.target_center, center, atol=1e-6)
    assert torch.allclose(t2, _raw(model, x2) - center, atol=1e-6)
    # centred targets no longer share a direction: a constant prediction is far from them
    unit = nn.functional.normalize(t2.reshape(-1, 32), dim=-1)
    assert float(1 - (unit @ nn.functional.normalize(unit.mean(0), dim=0)).mean()) > 0.5

    model.eval()
    model.teacher_targets(x1)
    assert torch.allclose(model.target_center, center, atol=1e-6)  # frozen in eval mode


def test_center_is_checkpointed_and_restored():
    model = _model(target_center_momentum=0.5)
    model.teacher_targets(torch.rand(2, 3, 32, 32))
    state = model.state_dict()
    assert {'target_center', 'target_center_ready'} <= set(state)
    fresh = _model(target_center_momentum=0.5)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.target_center, model.target_center)
    assert bool(fresh.target_center_ready)
    assert 'target_center' not in _model().state_dict()  # off: the official layout


def test_shared_direction_warns_once_without_centering_only():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with mock.patch('mmbeit.models.algorithms.vqkd.print_log') as log:
        model = _model()
        model.loss(x)
        model.loss(x)
    assert log.call_count == 1 and 'target_center_momentum' in log.call_args[0][0]
    with mock.patch('mmbeit.models.algorithms.vqkd.print_log') as log:
        _model(target_center_momentum=0.9).loss(x)
    assert log.call_count == 0


def test_bad_momentum_is_rejected():
    with pytest.raises(ValueError, match='target_center_momentum'):
        _model(target_center_momentum=1.0)
