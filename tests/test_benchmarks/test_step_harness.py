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


def test_report_rows_keep_the_benchmarks_format(monkeypatch, capsys):
    import argparse

    import step_harness

    monkeypatch.setattr(step_harness, 'matmul_peak_flops', lambda dtype, device: 1e10)
    times = {'mmbeit': [dict(model=1.0, total=2.0)] * 3,
             'mmpretrain': [dict(model=1.5, total=4.0)] * 3}
    peak = {'mmbeit.flops': 2e9, 'mmpretrain.flops': 4e9, 'mmbeit': 100.4, 'mmbeit.step': 39.6}
    step_harness.report(argparse.Namespace(batch=4, device='cpu'), 'bf16', times, peak,
                        'fwd + bwd')
    assert capsys.readouterr().out.splitlines() == [
        '[bf16] matmul peak 0.010 TFLOP/s (2048^3 bf16 mm, measured now)',
        '  mmbeit        2.00 img/s  (model 1.00 s, step 2.00 s, peak RSS 100 MiB (+40 MiB over '
        'the built model)); img/s per step [2.0, 2.0, 2.0]',
        '             2.0 GFLOP per step: 0.001 TFLOP/s, MFU 10 % (model part 0.002 TFLOP/s, '
        'MFU 20 %)',
        '  mmpretrain    1.00 img/s  (model 1.50 s, step 4.00 s); img/s per step [1.0, 1.0, 1.0]',
        '             4.0 GFLOP per step: 0.001 TFLOP/s, MFU 10 % (model part 0.003 TFLOP/s, '
        'MFU 27 %)',
        '  ratio mmbeit / mmpretrain: 2.00x img/s (fwd + bwd only: 1.50x)']


def test_memory_text_cpu_rss_cuda_peak_or_nothing():
    from step_harness import memory_text

    assert memory_text({'a': 12.4}, 'a') == ', step peak allocated 12 MiB'
    assert memory_text({'a': 12.4}, 'a', resident=99.6) == (
        ', step peak allocated 12 MiB over 100 MiB resident')
    assert memory_text({'a': 7.0, 'a.step': 2.0}, 'a') == (
        ', peak RSS 7 MiB (+2 MiB over the built model)')
    assert memory_text({'b': 1.0}, 'a') == ''


def test_timed_step_runs_forward_then_optimizer_step_and_times_both():
    from step_harness import timed_step

    calls = []

    class _Optim:
        def step(self):
            calls.append('step')

        def zero_grad(self):
            calls.append('zero_grad')

    times, out = timed_step(torch.device('cpu'), lambda: calls.append('fwd') or 3.0, _Optim())
    assert out == 3.0 and calls == ['fwd', 'step', 'zero_grad']
    assert set(times) == {'model', 'total'} and times['total'] >= times['model'] >= 0


def test_op_breakdown_sorts_gemms_and_optimizer_ops_and_prints_the_goal(capsys):
    from step_harness import op_breakdown, print_breakdown

    layer = torch.nn.Linear(256, 256)
    optim = torch.optim.AdamW(layer.parameters(), foreach=True)
    x = torch.randn(512, 256)

    def run(name):
        layer(x).square().mean().backward()  # addmm forward, mm backward
        if name == 'b':
            torch.nn.utils.clip_grad_norm_(layer.parameters(), 1.0)  # _foreach_norm / _mul_
            optim.step()  # _foreach_ AdamW
        optim.zero_grad()

    seconds = op_breakdown(['a', 'b'], run)
    assert seconds['a']['gemm'] > 0 and seconds['a']['optimizer'] == 0
    assert seconds['b']['gemm'] > 0 and seconds['b']['optimizer'] > 0
    assert all(s['all'] >= s['gemm'] + s['optimizer'] for s in seconds.values())
    times = {'a': [dict(model=0.5, total=1.0)], 'b': [dict(model=1.0, total=2.5)]}
    print_breakdown(times, {'a': dict(gemm=0.6, optimizer=0.1, all=0.9),
                            'b': dict(gemm=2.0, optimizer=0.1, all=2.4)}, goal=1.25)
    assert capsys.readouterr().out.splitlines() == [
        '  a          step 1000 ms = GEMMs 600 + AdamW / clipping 100 + the rest 300 ms '
        '(GEMMs, AdamW timed per op)',
        '  b          step 2500 ms = GEMMs 2000 + AdamW / clipping 100 + the rest 400 ms '
        '(GEMMs, AdamW timed per op)',
        '  1.25x b needs a a step of 2000 ms; its GEMMs and optimizer alone take 700 ms']
