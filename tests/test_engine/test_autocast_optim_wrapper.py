"""AutocastOptimWrapper: bf16 autocast on CPU, fp32 master weights."""
from __future__ import annotations

import torch
from torch import nn

from mmbeit.engine.optimizers import AutocastOptimWrapper


def test_forward_runs_in_bf16_and_weights_stay_fp32():
    model = nn.Linear(8, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   device_type='cpu')
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    assert not torch.equal(model.weight, before)


def test_rejects_unknown_dtype():
    import pytest

    with pytest.raises(ValueError, match='bfloat16'):
        AutocastOptimWrapper(dtype='int8', optimizer=torch.optim.SGD([nn.Parameter(
            torch.ones(1))], lr=0.1))
