"""MoCo v3 ``micro_batch_size``: the full batch's loss, gradients and momentum update with the
backbones run in chunks (checkpointed query chunks), on 1 and on 2 gloo ranks; gradient
accumulation, which would change the contrastive loss, is refused."""
from __future__ import annotations

import copy

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from mmbeit.registry import MODELS
from tests.dist_utils import run_distributed


def _model_cfg(micro_batch_size=None, num_layers=2) -> dict:
    return dict(
        type='MoCoV3', base_momentum=0.9, micro_batch_size=micro_batch_size,
        backbone=dict(type='MoCoV3ViT', arch=dict(embed_dims=32, num_layers=num_layers,
                                                  num_heads=2), img_size=32, patch_size=8),
        neck=dict(type='MoCoV3MLP', in_channels=32, hid_channels=64, out_channels=16),
        predictor=dict(type='MoCoV3MLP', in_channels=16, hid_channels=64, out_channels=16,
                       num_layers=2),
        head=dict(type='MoCoV3ContrastiveHead', temperature=0.2))


def _pair(micro_batch_size):
    """The same initial weights with and without micro-batching."""
    init_default_scope('mmbeit')
    torch.manual_seed(0)
    full = MODELS.build(_model_cfg())
    full.init_weights()
    micro = MODELS.build(_model_cfg(micro_batch_size))
    micro.load_state_dict(full.state_dict())
    return full, micro


def _views(batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 3, 32, 32, generator=g) for _ in range(2)]


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_grads_close(a, b, rtol=1e-5):
    """Each parameter's gradient within ``rtol`` of its largest entry. A gradient that is zero
    in exact arithmetic (the final norm's bias feeds the projector's BatchNorm, which removes
    it: float noise of ~1e-8) is measured against 1e-4 of the model's largest gradient."""
    assert a.keys() == b.keys() and len(a) > 0
    floor = 1e-4 * max(g.abs().max() for g in a.values())
    for name in a:
        scale = torch.maximum(a[name].abs().max(), floor)
        assert (a[name] - b[name]).abs().max() <= rtol * scale, name


def test_eight_micro_batches_of_eight_give_the_full_batch_step():
    full, micro = _pair(8)
    views = _views(64, 1)
    out = {}
    for name, model in (('full', full), ('micro', micro)):
        model.train()
        losses = model.loss([v.clone() for v in views], None)
        losses['loss'].backward()
        out[name] = losses['loss'].detach()
    assert torch.allclose(out['full'], out['micro'], rtol=1e-6, atol=1e-6)
    _assert_grads_close(_grads(full), _grads(micro))
    backbone_grads = [n for n in _grads(micro) if n.startswith('backbone.')]
    assert len(backbone_grads) > 10  # the checkpointed chunks did back-propagate
    for a, b in zip(full.key_params(), micro.key_params()):  # the same momentum update
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(full.key_neck.buffers(), micro.key_neck.buffers()):  # BN on the batch
        assert torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6)


def test_train_step_with_an_optimizer_matches_and_accumulation_is_refused():
    full, micro = _pair(4)
    views = [(v * 60 + 128).clamp(0, 255) for v in _views(16, 2)]  # pixels for the preprocessor
    for model in (full, micro):
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
        model.train_step(dict(inputs=[v.clone() for v in views], data_samples=None), wrapper)
    for (name, a), b in zip(full.named_parameters(), micro.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), name
    accumulating = OptimWrapper(torch.optim.SGD(micro.parameters(), lr=0.5),
                                accumulative_counts=4)
    with pytest.raises(ValueError, match='micro_batch_size'):
        micro.train_step(dict(inputs=views, data_samples=None), accumulating)


def test_bad_micro_batch_sizes_and_batchnorm_backbones_are_refused():
    init_default_scope('mmbeit')
    with pytest.raises(ValueError, match='micro_batch_size must be >= 1'):
        MODELS.build(_model_cfg(0))
    resnet = dict(_model_cfg(8), backbone=dict(type='ResNet', depth=18, norm_eval=False),
                  neck=dict(type='MoCoV3MLP', in_channels=512, hid_channels=64,
                            out_channels=16, num_layers=2))
    with pytest.raises(ValueError, match='BatchNorm backbone'):
        MODELS.build(resnet)


def _ddp_grads(rank: int, world_size: int, micro_batch_size):
    from mmbeit.engine.runner.cpu_distributed import CPUDistributedDataParallel

    init_default_scope('mmbeit')
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(micro_batch_size))
    model.init_weights()
    ddp = CPUDistributedDataParallel(copy.deepcopy(model))
    views = _views(16, 10 + rank)  # each rank its own 16 images
    losses = ddp(inputs=views, data_samples=None, mode='loss')
    losses['loss'].backward()
    return dict(loss=losses['loss'].detach(), grads=_grads(ddp.module))


def test_two_gloo_ranks_micro_batched_equal_full_batch(tmp_path):
    (tmp_path / 'full').mkdir()
    (tmp_path / 'micro').mkdir()
    full = run_distributed(_ddp_grads, 2, tmp_path / 'full', None)
    micro = run_distributed(_ddp_grads, 2, tmp_path / 'micro', 4)
    for f, m in zip(full, micro):
        assert torch.allclose(f['loss'], m['loss'], rtol=1e-6, atol=1e-6)
        _assert_grads_close(f['grads'], m['grads'])
    _assert_grads_close(micro[0]['grads'], micro[1]['grads'], rtol=1e-6)  # all-reduced
