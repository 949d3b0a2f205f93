"""AutocastOptimWrapper: bf16 autocast on CPU where it pays, fp32 master weights."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from mmbeit.engine.optimizers import AutocastOptimWrapper, autocast_optim_wrapper
from mmbeit.utils import cpu_precision


def test_forward_runs_in_bf16_and_weights_stay_fp32():
    model = nn.Linear(8, 4)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   device_type='cpu', precision='bf16')
    before = model.weight.detach().clone()
    x = torch.randn(2, 8)
    with wrapper.optim_context(model):
        out = model(x)
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model.weight.dtype == torch.float32 and model.weight.grad is None  # zeroed
    # one SGD step on the fp32 weights: d mean(y^2) / dW = 2 y^T x / numel(y), y the bf16 output
    grad = 2 * out.detach().float().T @ x / out.numel()
    torch.testing.assert_close(model.weight.detach(), before - 0.1 * grad, atol=1e-3, rtol=0)


def test_rejects_unknown_dtype_and_precision():
    sgd = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1)
    with pytest.raises(ValueError, match='bfloat16'):
        AutocastOptimWrapper(dtype='int8', optimizer=sgd)
    with pytest.raises(ValueError, match="precision must be one of .*'fp16'"):
        AutocastOptimWrapper(precision='fp16', optimizer=sgd)


def _with_cpu(monkeypatch, flags, **env):
    monkeypatch.setattr(cpu_precision, '_cpu_flags', lambda: frozenset(flags))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if 'ONEDNN_MAX_CPU_ISA' not in env:
        monkeypatch.delenv('ONEDNN_MAX_CPU_ISA', raising=False)
    cpu_precision.cpu_bf16_is_fast.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_bf16_probe():
    cpu_precision.cpu_bf16_is_fast.cache_clear()
    yield
    cpu_precision.cpu_bf16_is_fast.cache_clear()


@pytest.mark.parametrize('flags, env, fast, why', [
    ({'avx2', 'amx_bf16', 'avx512_bf16'}, {}, True, 'AMX-BF16'),
    ({'avx2', 'avx512f', 'avx512_bf16'}, {}, True, 'AVX512-BF16'),
    ({'avx2', 'avx512f'}, {}, False, 'neither AMX-BF16 nor AVX512-BF16'),
    ({'avx2'}, {}, False, 'neither AMX-BF16 nor AVX512-BF16'),
    ({'amx_bf16'}, {'ONEDNN_MAX_CPU_ISA': 'avx2'}, False, 'ONEDNN_MAX_CPU_ISA=AVX2'),
    ({'amx_bf16'}, {'ONEDNN_MAX_CPU_ISA': 'AVX512_CORE_AMX'}, True, 'AMX-BF16'),
])
def test_bf16_is_fast_only_with_bf16_matmul_hardware(monkeypatch, flags, env, fast, why):
    _with_cpu(monkeypatch, flags, **env)
    got, reason = cpu_precision.cpu_bf16_is_fast()
    assert got is fast and why in reason


@pytest.mark.parametrize('flags, precision, out_dtype', [
    ({'avx2'}, 'auto', torch.float32),
    ({'avx512_bf16'}, 'auto', torch.bfloat16),
    ({'avx512_bf16'}, 'fp32', torch.float32),
    ({'avx2'}, 'bf16', torch.bfloat16),
])
def test_cpu_precision_follows_the_machine_unless_asked(monkeypatch, flags, precision,
                                                         out_dtype):
    _with_cpu(monkeypatch, flags)
    model = nn.Linear(8, 4)
    said = []
    monkeypatch.setattr(autocast_optim_wrapper, 'print_log', lambda msg, **k: said.append(msg))
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                   device_type='cpu', precision=precision)
    with wrapper.optim_context(model):
        assert model(torch.randn(2, 8)).dtype == out_dtype
    what = 'bfloat16 autocast' if out_dtype == torch.bfloat16 else 'fp32 (no autocast)'
    assert any(f'training in {what}: ' in msg for msg in said), said


def _mixed_precision_wrapper(**kwargs):
    from mmbeit.registry import OPTIM_WRAPPERS

    model = nn.Linear(8, 4)
    return OPTIM_WRAPPERS.build(dict(type='MixedPrecisionOptimWrapper', optimizer=torch.optim.SGD(
        model.parameters(), lr=0.1), _scope_='mmbeit', **kwargs)), model


def test_mixed_precision_wrapper_is_fp32_on_cpu_and_amp_on_gpu():
    from mmengine.optim import AmpOptimWrapper

    from mmbeit.engine.optimizers import FiniteOptimWrapper

    wrapper, model = _mixed_precision_wrapper()
    if torch.cuda.is_available():
        assert isinstance(wrapper, AmpOptimWrapper)
        return
    assert type(wrapper) is FiniteOptimWrapper  # fp32: mmcv's CPU NMS / RoIAlign take fp32
    with wrapper.optim_context(model):
        assert model(torch.randn(2, 8)).dtype == torch.float32
    bf16, model = _mixed_precision_wrapper(cpu_dtype='bfloat16', dtype='float16')
    assert isinstance(bf16, AutocastOptimWrapper)
    with bf16.optim_context(model):
        assert model(torch.randn(2, 8)).dtype == torch.bfloat16


def test_train_py_keeps_the_transfer_recipes_wrapper_on_cpu_with_and_without_amp():
    """mmbeit's tools/train.py must not turn the mmdet / mmseg recipes into bf16 autocast."""
    import importlib.util

    import pytest
    from mmengine.config import Config

    from tests.conftest import REPO_ROOT

    pytest.importorskip('mmdet')
    pytest.importorskip('mmseg')
    spec = importlib.util.spec_from_file_location('train_tool', REPO_ROOT / 'tools' / 'train.py')
    train_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_tool)
    for config in (
            'configs/benchmarks/mmdetection/'
            'mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py',
            'configs/benchmarks/mmsegmentation/'
            'upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-512x512.py'):
        path = str(REPO_ROOT / config)
        for flags in ([], ['--amp']):
            cfg = train_tool.merge_args(Config.fromfile(path),
                                        train_tool.parse_args([path, *flags]))
            assert cfg.optim_wrapper.type == 'mmbeit.MixedPrecisionOptimWrapper', (config, flags)
            assert 'dtype' not in cfg.optim_wrapper
