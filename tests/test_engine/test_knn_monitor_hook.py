import json

import pytest
from mmengine.runner import Runner

from tests.test_models.test_algorithms.test_mocov3 import DIGITS_CFG, tiny_runner_cfg


def _knn_hook(interval: int, by_epoch: bool) -> dict:
    from mmengine import Config

    hook = dict(Config.fromfile(DIGITS_CFG).custom_hooks[1])
    hook.update(interval=interval, by_epoch=by_epoch)
    return hook


def test_curve_logged_before_training_and_every_interval(tmp_path, digits_root):
    cfg = tiny_runner_cfg(tmp_path, max_iters=2)
    cfg.custom_hooks = [_knn_hook(interval=1, by_epoch=False)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    curve = json.loads((tmp_path / 'knn_curve.json').read_text())
    assert [p['iter'] for p in curve] == [0, 1, 2]
    assert all(0.0 <= p['top1'] <= 100.0 for p in curve)
    assert runner.message_hub.get_scalar('train/knn/top1').current() == curve[-1]['top1']


@pytest.mark.slow
def test_digits_pretraining_raises_knn_top1_above_random_init(tmp_path, digits_root):
    """A small MoCo v3 ViT on the embedded digits, CPU: kNN top-1 at the end vs step 0."""
    cfg = tiny_runner_cfg(tmp_path, max_iters=60)
    cfg.model.backbone.update(arch=dict(embed_dims=64, num_layers=2, num_heads=2),
                              patch_size=4)
    cfg.model.neck.update(in_channels=64, hid_channels=256, out_channels=64)
    cfg.model.predictor.update(in_channels=64, hid_channels=256, out_channels=64)
    cfg.train_dataloader.batch_size = 64
    cfg.optim_wrapper.optimizer.lr = 2e-3
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                                end=10),
                           dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=60)]
    cfg.default_hooks.checkpoint = None
    cfg.custom_hooks = [_knn_hook(interval=30, by_epoch=False)]
    Runner.from_cfg(cfg).train()
    curve = json.loads((tmp_path / 'knn_curve.json').read_text())
    assert [p['iter'] for p in curve] == [0, 30, 60]
    start, end = curve[0]['top1'], curve[-1]['top1']
    assert end >= start + 5.0, f'kNN top-1 {start:.1f} -> {end:.1f}'
