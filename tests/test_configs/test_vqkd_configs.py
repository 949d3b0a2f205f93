"""Every configs/vqkd config builds; the official recipe trains 2 iterations (shrunk)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import mmbeit.models  # noqa: F401
from mmbeit.registry import MODELS

CONFIGS = sorted(Path('configs/vqkd').glob('*.py')) if Path('configs/vqkd').is_dir() else \
    sorted((Path(__file__).resolve().parents[2] / 'configs' / 'vqkd').glob('*.py'))
OFFICIAL = 'configs/vqkd/vqkd_vit-base-p16_8xb64-clip-100e_in1k.py'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_vqkd_config_builds(path):
    cfg = Config.fromfile(str(path))
    cfg.model.teacher.checkpoint = None  # teacher release files are not shipped
    model = MODELS.build(cfg.model)
    assert model.tokenizer.target_dims == model.teacher.out_dims
    assert cfg.train_dataloader.batch_size in (32, 64)
    if 'in1k' in path.name:
        assert model.tokenizer.num_tokens == 8192 and model.tokenizer.code_dims == 32
        assert model.tokenizer.decoder.num_layers == 3
        opt = cfg.optim_wrapper.optimizer
        assert opt.lr == pytest.approx(5e-5 * 512 / 128) and opt.betas == (0.9, 0.99)
        assert cfg.train_cfg.max_epochs == 100


def test_official_config_trains_two_iterations_on_synthetic_images(tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(
            images / f'{i}.png')
    cfg = Config.fromfile(OFFICIAL)
    cfg.work_dir = str(tmp_path / 'work')
    tok, teacher = cfg.model.tokenizer, cfg.model.teacher
    tok.encoder = dict(arch=dict(embed_dims=32, num_layers=1, num_heads=2), img_size=32,
                       patch_size=16)
    tok.decoder = dict(embed_dims=32, num_layers=1, num_heads=2)
    teacher.update(img_size=32, width=64, layers=1, checkpoint=None)
    cfg.train_pipeline[1].scale = 32
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False,
                                pin_memory=False)
    cfg.train_dataloader.dataset = dict(type='CustomDataset', data_root=str(images),
                                        with_label=False, pipeline=cfg.train_pipeline)
    cfg.optim_wrapper.device_type = 'cpu'
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False)
    cfg.custom_hooks = [dict(type='CodebookUsageHook', interval=1)]
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
    assert np.isfinite(runner.message_hub.get_scalar('train/loss_cos').current())
