"""benchmarks/mocov3_step.py keeps working: both MoCo v3 models build from their recipes and
train, the CLI prints a row per model and precision, and the memory probe reads the RSS."""
from __future__ import annotations

import copy
import importlib.util
import resource
import time

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper

from tests.conftest import REPO_ROOT

TINY = dict(img_size=32, arch='tiny', hid_channels=64)  # ViT-Ti/16 on 2x2 patches
TINY_ARGV = ['--arch', 'tiny', '--img-size', '32', '--hid-channels', '64', '--batch', '2',
             '--rounds', '1', '--steps', '1', '--warmup', '1', '--device', 'cpu']


@pytest.fixture(scope='module')
def bench():
    """The script as a module, with its own message hub (it sets iter / max_iters there)."""
    MessageHub.get_instance(f'test_mocov3_step-{time.time()}')
    spec = importlib.util.spec_from_file_location(
        'mocov3_step', REPO_ROOT / 'benchmarks' / 'mocov3_step.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.harness.quiet_logs()
    yield module
    MessageHub.get_instance(f'after-test_mocov3_step-{time.time()}')  # leave a clean hub


@pytest.mark.parametrize('name', ['mmbeit', 'mmpretrain'])
def test_step_trains_query_encoder_and_keeps_patch_projection_frozen(bench, name):
    torch.manual_seed(0)
    model = bench.BUILDERS[name](**TINY).train()
    optim = build_optim_wrapper(model, bench.optim_cfg())
    data = bench.make_batch(2, TINY['img_size'], 'cpu')
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    twin = copy.deepcopy(model)  # the loss of the first step, computed outside the benchmark
    expected, _ = twin.parse_losses(twin(**twin.data_preprocessor(data, True), mode='loss'))
    for dtype in (None, torch.bfloat16):
        out = bench.step(model, optim, data, dtype)
        if dtype is None:
            assert out['loss'] == pytest.approx(float(expected), rel=1e-5)
        assert out['total'] >= out['model'] > 0
    params = dict(model.named_parameters())
    trained = [k for k, p in params.items() if p.requires_grad]
    frozen = [k for k in params if k.startswith('backbone.patch_embed')]
    assert trained and frozen
    assert all(not torch.equal(params[k], before[k]) for k in trained)
    assert all(torch.equal(params[k], before[k]) for k in frozen)


def test_cli_prints_both_models_and_ratio_per_precision(bench, capsys):
    bench.main(TINY_ARGV + ['--no-memory'])
    lines = capsys.readouterr().out.splitlines()
    precisions = bench.harness.default_precisions()  # bf16 only where it runs in hardware
    assert [line.split()[0] for line in lines if line.startswith('[')] == [
        f'[{prec}]' for prec in precisions]
    for prec in precisions:
        start = next(i for i, line in enumerate(lines) if line.startswith(f'[{prec}]'))
        assert 'matmul peak' in lines[start]
        rows = [line.split()[0] for line in lines[start + 1:start + 6:2]]
        assert rows == ['mmbeit', 'mmpretrain', 'ratio'], lines[start:start + 6]
        assert 'img/s' in lines[start + 1] and 'img/s' in lines[start + 3]
        flops_rows = (lines[start + 2], lines[start + 4])  # FLOPs counted, MFU of the peak
        assert all('GFLOP per step' in row and 'MFU' in row for row in flops_rows)
        # the same ViT-Ti/16 and MLPs in both libraries, the same FLOPs: 4 images (2 x 2
        # views) x 12 blocks x 5 tokens x 0.885 MFLOP (qkv, proj, MLP matmuls) x (3 query
        # encoder fwd + bwd, 1 key encoder fwd) = 0.85 GFLOP, + heads and patch embedding
        gflops = [float(row.split()[0]) for row in flops_rows]
        assert gflops[0] == gflops[1] == 0.9, flops_rows


def test_memory_probe_reports_peak_rss_over_built_model(bench):
    rss = bench.probe_peak_rss(bench.parse_args(TINY_ARGV), 'mmbeit', 'fp32')
    # the peak is this process's high-water mark in MiB: what the kernel's own count says
    # (ru_maxrss, KiB) right after the probe
    assert rss['built'] <= rss['peak']
    assert rss['peak'] == pytest.approx(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                        abs=16)
