import math

import pytest
import torch
from mmengine import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmbeit.models.algorithms import MoCoV3, cosine_momentum
from mmbeit.registry import MODELS

DIGITS_CFG = 'configs/mocov3/mocov3_vit-tiny-p4_1xb128-coslr-30e_digits.py'


def tiny_model_cfg() -> dict:
    return dict(
        type='MoCoV3', base_momentum=0.99,
        backbone=dict(type='MoCoV3ViT', arch=dict(embed_dims=32, num_layers=1, num_heads=2),
                      img_size=32, patch_size=8),
        neck=dict(type='MoCoV3MLP', in_channels=32, hid_channels=64, out_channels=16),
        predictor=dict(type='MoCoV3MLP', in_channels=16, hid_channels=64, out_channels=16,
                       num_layers=2),
        head=dict(type='MoCoV3ContrastiveHead', temperature=0.2))


class _Interrupted(RuntimeError):
    pass


class _StopAfter(Hook):
    def __init__(self, iters: int) -> None:
        self.iters = iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iters:
            raise _Interrupted


def tiny_runner_cfg(work_dir, max_iters: int = 4) -> Config:
    """The digits recipe shrunk to a 1-block ViT, batch 16, iteration-based."""
    cfg = Config.fromfile(DIGITS_CFG)
    cfg.model = tiny_model_cfg()
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.batch_size = 16
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.custom_hooks = [dict(type='RandomStateHook')]
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    return cfg


def _model() -> MoCoV3:
    init_default_scope('mmbeit')
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    return model


def test_cosine_momentum_formula():
    for t, total in ((0, 10), (3, 10), (10, 10)):
        expected = 1 - 0.5 * (1 + math.cos(math.pi * t / total)) * (1 - 0.99)
        assert cosine_momentum(t, total, 0.99) == pytest.approx(expected)
    assert cosine_momentum(0, 10) == pytest.approx(0.99)
    assert cosine_momentum(10, 10) == pytest.approx(1.0)


def test_key_encoder_starts_as_copy_and_follows_ema():
    model = _model()
    for q, k in zip(model.query_params(), model.key_params()):
        assert torch.equal(q, k) and not k.requires_grad
    with torch.no_grad():
        for q in model.query_params():
            q.add_(1.0)
    old = [k.clone() for k in model.key_params()]
    model.update_key_encoder(0.9)
    for q, k, o in zip(model.query_params(), model.key_params(), old):
        assert torch.allclose(k, 0.9 * o + 0.1 * q, atol=1e-6)


def test_momentum_read_from_message_hub_iteration():
    model = _model()
    hub = MessageHub.get_instance('test_mocov3_momentum')
    hub.update_info('iter', 30)
    hub.update_info('max_iters', 100)
    assert model.current_momentum() == pytest.approx(cosine_momentum(30, 100, 0.99))
    views = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)]
    losses = model.loss(views, None)
    assert float(losses['momentum']) == pytest.approx(cosine_momentum(30, 100, 0.99))


def test_loss_backprops_to_query_only_and_runs_under_bf16_autocast():
    model = _model()
    views = [torch.randn(4, 3, 32, 32), torch.randn(4, 3, 32, 32)]
    reference = model.loss(views, None)['loss']  # fp32 (keys = queries: the EMA keeps them)
    reference.backward()
    fp32_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = model.loss(views, None)['loss']
    assert loss.dtype == torch.float32
    # bf16 rounding through BN over 4 samples and a 0.2 temperature: a few % on this batch
    assert loss.item() == pytest.approx(reference.item(), rel=0.1)
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads.keys() == fp32_grads.keys()
    assert {'predictor.mlp.0.weight', 'backbone.blocks.0.attn.qkv.weight'} <= grads.keys()
    flat, fp32_flat = (torch.cat([g[n].flatten() for n in sorted(fp32_grads)])
                       for g in (grads, fp32_grads))
    assert torch.nn.functional.cosine_similarity(flat, fp32_flat, dim=0) > 0.8
    assert all(p.grad is None for p in model.key_params())
    assert model.backbone.patch_embed.proj.weight.grad is None  # frozen projection
    with pytest.raises(ValueError, match='two views'):
        model.loss([views[0]], None)


def test_momentum_follows_cosine_after_resume(tmp_path, digits_root):
    Runner.from_cfg(tiny_runner_cfg(tmp_path / 'full', 4)).train()
    runner = Runner.from_cfg(tiny_runner_cfg(tmp_path / 'part', 4))
    runner.register_hook(_StopAfter(2), priority='VERY_LOW')  # interrupted after iter_2.pth
    with pytest.raises(_Interrupted):
        runner.train()
    resumed_cfg = tiny_runner_cfg(tmp_path / 'part', 4)
    resumed_cfg.resume = True
    resumed_cfg.load_from = str(tmp_path / 'part' / 'iter_2.pth')
    resumed = Runner.from_cfg(resumed_cfg)
    resumed.train()
    model = resumed.model
    # the last step ran at iteration 3 of 4
    assert model.momentum == pytest.approx(cosine_momentum(3, 4, 0.99))
    full = torch.load(tmp_path / 'full' / 'iter_4.pth', weights_only=False)['state_dict']
    part = torch.load(tmp_path / 'part' / 'iter_4.pth', weights_only=False)['state_dict']
    key = 'key_backbone.blocks.0.attn.qkv.weight'
    assert torch.allclose(full[key], part[key], atol=1e-7)
