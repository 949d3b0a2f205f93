"""A small VQ-KD trained on the embedded digits (CPU): codebook usage and cosine loss."""
from __future__ import annotations

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

CONFIG = 'configs/vqkd/vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py'


@pytest.mark.slow
def test_small_vqkd_on_digits_uses_codebook_and_lowers_cosine_loss(digits_root, tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.batch_size = 32
    cfg.model.tokenizer.encoder.arch = dict(embed_dims=48, num_layers=2, num_heads=3)
    cfg.model.tokenizer.decoder = dict(embed_dims=48, num_layers=1, num_heads=3)
    cfg.model.tokenizer.quantizer.dead_code_window = 5
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=36, val_interval=36)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=5)]
    cfg.optim_wrapper.optimizer.lr = 2e-3
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1000)
    cfg.custom_hooks = [dict(type='CodebookUsageHook', interval=12)]
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()

    losses = runner.message_hub.get_scalar('train/loss_cos').data[0]
    start, end = float(losses[:3].mean()), float(losses[-5:].mean())
    assert end < start - 0.1, f'cosine loss {start:.3f} -> {end:.3f}'
    metrics = runner.val_loop.run()
    assert metrics['codebook/usage'] >= 90.0, metrics
    assert (tmp_path / 'codebook_usage.json').is_file()
