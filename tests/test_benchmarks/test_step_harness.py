"""benchmarks/step_harness.py: the FLOP count and MFU that every step benchmark prints."""
from __future__ import annotations

import sys

import torch

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / 'benchmarks'))
from step_harness import count_flops, matmul_peak_flops, mfu  # noqa: E402


def test_count_flops_of_linear_forward_and_backward():
    layer = torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(8, 64, requires_grad=True)
    flops = count_flops(lambda: layer(x).sum().backward())
    # forward 2*8*64*32; backward: grad wrt input and wrt weight, the same size each
    assert flops == 3 * 2 * 8 * 64 * 32


def test_matmul_peak_is_measured_and_mfu_is_a_ratio_of_it():
    peak = matmul_peak_flops(torch.float32, torch.device('cpu'), size=256, repeats=2, trials=1)
    assert 1e8 < peak < 1e15
    assert mfu(peak / 2, 1.0, peak).endswith('MFU 50 %')
    assert mfu(2e12, 2.0, 4e12) == '1.000 TFLOP/s, MFU 25 %'
