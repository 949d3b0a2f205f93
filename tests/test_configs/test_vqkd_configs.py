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
    assert cfg.train_dataloader.batch_size == 64
    if 'in1k' in path.name:
        assert model.tokenizer.num_tokens == 8192 and model.tokenizer.code_dims == 32
        assert model.tokenizer.decoder.num_layers == 3
        assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=5e-5 * 512 / 128,
                                                   betas=(0.9, 0.99), weight_decay=1e-4,
                                                   fused=True)
        warmup, cosine = cfg.param_scheduler
        assert (warmup.begin, warmup.end, cosine.begin, cosine.end, cosine.eta_min) == (
            0, 10, 10, 100, 1e-5)
        assert cfg.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
        assert cfg.auto_scale_lr == dict(base_batch_size=512, enable=False)
        assert cfg.val_dataloader.dataset.split == 'val'
        assert cfg.val_dataloader.sampler == dict(type='DefaultSampler', shuffle=False)


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
    cfg.train_pipeline[1].size = 32
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


def test_mocov3_teacher_is_the_mocov3_digits_backbone():
    """The VQ-KD teacher loads a configs/mocov3 digits checkpoint: its backbone must be that
    config's backbone (the same tiny-ViT entry), with patch features in place of the CLS."""
    vq = Config.fromfile('configs/vqkd/vqkd_vit-tiny-p4_1xb64-mocov3-teacher-20e_digits.py')
    moco = Config.fromfile('configs/mocov3/mocov3_vit-tiny-p4_1xb128-coslr-30e_digits.py')
    teacher = vq.model.teacher
    assert (teacher.backbone.out_type, moco.model.backbone.out_type) == ('featmap', 'cls_token')
    assert dict(teacher.backbone, out_type=None) == dict(moco.model.backbone, out_type=None)
    assert teacher.prefix == 'backbone.'
    # MoCo v3 trained on [-1, 1] (mean = std = 127.5 of 255): the teacher normalises alike
    assert moco.model.data_preprocessor.mean == moco.model.data_preprocessor.std == [127.5] * 3
    assert teacher.mean == teacher.std == [0.5] * 3
    assert vq.model.tokenizer.target_dims == moco.model.backbone.arch.embed_dims == 192
    teacher.checkpoint = None
    built = MODELS.build(teacher)
    assert built.backbone.num_layers == 4 and built.out_dims == 192
