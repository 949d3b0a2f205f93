"""Every MoCo v3 config builds and trains 2 iterations (shrunk, on the embedded digits), and the
real ImageNet two-view pipeline runs (catches numpy / mmcv incompatibilities in ColorJitter)."""
from pathlib import Path

import numpy as np
import pytest
from mmengine import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmbeit.registry import TRANSFORMS

CONFIGS = sorted(Path('configs/mocov3').glob('*.py'))


def _shrink_pipeline(pipeline) -> None:
    """224 px crops -> 32 px, recursively."""
    for step in pipeline:
        if isinstance(step, dict):
            if step.get('type') in ('RandomResizedCrop', 'CenterCrop') and 'scale' in step:
                step['scale'] = 32
            if step.get('type') == 'CenterCrop':
                step['crop_size'] = 32
            if step.get('type') == 'ResizeEdge':
                step['scale'] = 36
            for key in ('transforms',):
                if key in step:
                    for sub in step[key]:
                        _shrink_pipeline(sub if isinstance(sub, list) else [sub])


def _shrink(cfg: Config, work_dir: str) -> Config:
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.pop('sync_bn', None)
    model = cfg.model
    backbone = model.backbone
    if backbone.type == 'MoCoV3ViT':
        backbone.update(arch=dict(embed_dims=32, num_layers=1, num_heads=2), img_size=32,
                        patch_size=8)
        if backbone.get('frozen_stages', -1) > 0:
            backbone.frozen_stages = 1
        width = 32
    else:
        backbone.depth = 18
        width = 512
    backbone.pop('init_cfg', None)
    if model.type == 'MoCoV3':
        model.neck.update(in_channels=width, hid_channels=32, out_channels=16)
        model.predictor.update(in_channels=16, hid_channels=32, out_channels=16)
    else:
        model.head.update(in_channels=width, num_classes=10)
        model.pop('data_preprocessor', None)
        cfg.data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=10,
                                     mean=[123.675, 116.28, 103.53],
                                     std=[58.395, 57.12, 57.375], to_rgb=True)
    loader = cfg.train_dataloader
    pipeline = loader.dataset.pipeline
    _shrink_pipeline(pipeline)
    loader.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader.dataset = dict(type='DigitsDataset', data_root='data/digits', split='val',
                          pipeline=pipeline)
    loader.sampler = dict(type='DefaultSampler', shuffle=True)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg',
                'test_evaluator'):
        cfg.pop(key, None)
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h['type'] != 'KNNMonitorHook']
    wrapper = cfg.optim_wrapper
    if wrapper.get('type') == 'AmpOptimWrapper':
        wrapper.type = 'OptimWrapper'
        wrapper.pop('loss_scale', None)
    cfg.param_scheduler = []
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.default_hooks.checkpoint = None
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_and_trains_two_iterations(path, tmp_path, digits_root):
    cfg = _shrink(Config.fromfile(str(path)), str(tmp_path))
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2


def test_pretrain_recipes_follow_the_paper():
    vit = Config.fromfile('configs/mocov3/mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py')
    assert vit.optim_wrapper.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert vit.optim_wrapper.optimizer.weight_decay == 0.1
    assert vit.auto_scale_lr.base_batch_size == 32 * vit.train_dataloader.batch_size
    assert vit.param_scheduler[0].end == 40 and vit.train_cfg.max_epochs == 300
    assert vit.model.head.temperature == 0.2 and vit.model.backbone.arch == 'base'
    r50 = Config.fromfile('configs/mocov3/mocov3_resnet50_32xb128-amp-lars-coslr-100e_in1k.py')
    assert r50.optim_wrapper.optimizer.type == 'LARS'
    assert r50.optim_wrapper.optimizer.lr == pytest.approx(0.6 * 4096 / 256)
    assert r50.model.head.temperature == 1.0


def test_imagenet_two_view_pipeline_runs_on_a_synthetic_image():
    """ColorJitter hue (mmcv adjust_hue) overflows on numpy 2 with mmcv 2.1: keep this test."""
    init_default_scope('mmbeit')
    cfg = Config.fromfile('configs/mocov3/mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py')
    multiview = cfg.train_dataloader.dataset.pipeline[1]
    # force every random step on
    for view in multiview.transforms:
        for step in view:
            if 'prob' in step:
                step['prob'] = 1.0
    transform = TRANSFORMS.build(multiview)
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (256, 320, 3), dtype=np.uint8)
    out = transform(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    views = out['img']
    assert len(views) == 2 and all(v.shape == (224, 224, 3) for v in views)
    assert all(v.dtype == np.uint8 for v in views)
