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
            if step.get('type') == 'ResizedCropView':
                step['size'] = 32
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
    if model.get('micro_batch_size'):
        model.micro_batch_size = 2  # two checkpointed chunks per view
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
            for key in ('jitter_prob', 'grayscale_prob', 'blur_prob', 'solarize_prob',
                        'flip_prob'):
                step[key] = 1.0
    transform = TRANSFORMS.build(multiview)
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (256, 320, 3), dtype=np.uint8)
    out = transform(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    views = out['img']
    assert len(views) == 2 and all(v.shape == (224, 224, 3) for v in views)
    assert all(v.dtype == np.uint8 for v in views)


def _views(cfg):
    multiview = cfg.train_dataloader.dataset.pipeline[1]
    assert multiview.type == 'MultiView' and multiview.num_views == [1, 1]
    return multiview.transforms


def test_resnet50_recipe_is_the_vit_schedule_with_lars_and_its_crop():
    vit = Config.fromfile('configs/mocov3/mocov3_vit-small-p16_32xb128-amp-coslr-300e_in1k.py')
    r50 = Config.fromfile('configs/mocov3/mocov3_resnet50_32xb128-amp-lars-coslr-100e_in1k.py')
    assert vit.optim_wrapper.optimizer == dict(type='AdamW', lr=1.5e-4 * 4096 / 256,
                                               weight_decay=0.1, fused=True)
    assert r50.optim_wrapper.optimizer == dict(type='LARS', lr=0.6 * 4096 / 256,
                                               weight_decay=1e-6, momentum=0.9)
    assert r50.optim_wrapper.type == vit.optim_wrapper.type == 'AmpOptimWrapper'
    assert set(r50.optim_wrapper.paramwise_cfg.custom_keys) == {
        'bn', 'bias', 'downsample.1', 'mlp.1', 'mlp.4'}
    for cfg, warm, epochs in ((vit, 40, 300), (r50, 10, 100)):
        warmup, cosine = cfg.param_scheduler
        assert (warmup.start_factor, warmup.begin, warmup.end) == (1e-4, 0, warm)
        assert (cosine.T_max, cosine.begin, cosine.end) == (epochs - warm, warm, epochs)
        assert cfg.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=epochs)
        assert cfg.auto_scale_lr.base_batch_size == 4096
    # the ResNet-50 crops (0.2, 1), the ViT (0.08, 1); the views are the same otherwise
    for cfg, scale in ((vit, (0.08, 1.0)), (r50, (0.2, 1.0))):
        assert [view[0].scale for view in _views(cfg)] == [scale, scale]
    assert [dict(view[0], scale=None) for view in _views(vit)] == [
        dict(view[0], scale=None) for view in _views(r50)]


def test_the_two_views_differ_in_blur_and_solarize_only():
    cfg = Config.fromfile('configs/mocov3/mocov3_vit-base-p16_32xb128-amp-coslr-300e_in1k.py')
    view1, view2 = _views(cfg)
    assert [t.type for t in view1] == [t.type for t in view2] == ['ResizedCropView']
    differ = {key: (view1[0][key], view2[0][key]) for key in view1[0]
              if view1[0][key] != view2[0][key]}
    assert differ == dict(blur_prob=(1.0, 0.1), solarize_prob=(0.0, 0.2))


@pytest.mark.parametrize('name,lr,epochs', [
    ('mocov3/mocov3_vit-small-p16_linear-8xb128-coslr-90e_in1k.py', 3.0 * 1024 / 256, 90),
    ('mocov3/mocov3_vit-base-p16_linear-8xb128-coslr-90e_in1k.py', 3.0 * 1024 / 256, 90),
    ('mocov3/mocov3_vit-large-p16_linear-8xb128-coslr-90e_in1k.py', 3.0 * 1024 / 256, 90),
    ('mocov3/mocov3_resnet50_linear-8xb128-coslr-90e_in1k.py', 0.1 * 1024 / 256, 90),
    ('benchmarks/classification/beitv2_vit-base-p16_linear-8xb256-coslr-100e_in1k.py', 6.0, 100),
])
def test_linear_probe_schedule(name, lr, epochs):
    """The shared linear-probe schedule: SGD at 0.9 momentum without weight decay, cosine to 0
    over the recipe's epochs, the lr scaled from a batch of 256."""
    cfg = Config.fromfile(f'configs/{name}')
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=pytest.approx(lr), momentum=0.9,
                                               weight_decay=0.0)
    assert cfg.param_scheduler == [dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True,
                                        begin=0, end=epochs)]
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.auto_scale_lr.base_batch_size == 8 * cfg.train_dataloader.batch_size


@pytest.mark.parametrize('arch', ['small', 'base'])
def test_batch_4096_on_8_and_1_gpus_is_the_32_gpu_recipe_in_micro_batches(arch):
    ref = Config.fromfile(f'configs/mocov3/mocov3_vit-{arch}-p16_32xb128-amp-coslr-300e_in1k.py')
    for gpus in (8, 1):
        batch = 4096 // gpus
        cfg = Config.fromfile(f'configs/mocov3/mocov3_vit-{arch}-p16_{gpus}xb{batch}-micro128-'
                              'amp-coslr-300e_in1k.py')
        assert cfg.train_dataloader.batch_size * gpus == cfg.auto_scale_lr.base_batch_size == 4096
        assert cfg.model.micro_batch_size == 128
        assert cfg.optim_wrapper == ref.optim_wrapper
        assert 'accumulative_counts' not in cfg.optim_wrapper
        assert dict(cfg.model, micro_batch_size=None) == dict(ref.model, micro_batch_size=None)
        for key in ('param_scheduler', 'train_cfg', 'sync_bn', 'custom_hooks'):
            assert cfg[key] == ref[key], key
        assert cfg.train_dataloader.dataset == ref.train_dataloader.dataset
