"""UperNet (mmseg 1.x) with the BEiT v2 backbone: 2 training iterations + mIoU evaluation."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .pretrain_checkpoint import REPO, TINY_ARCH, tiny_beitv2_backbone_checkpoint

pytest.importorskip('mmseg')
pytestmark = pytest.mark.slow
CROP = (64, 64)


def write_tiny_ade(root: Path, num_images: int = 3, seed: int = 0) -> Path:
    """ADE20K layout: images/{training,validation}/*.jpg, annotations/.../*.png (0 = ignore)."""
    rng = np.random.RandomState(seed)
    for split in ('training', 'validation'):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i in range(num_images):
            h, w = int(rng.randint(64, 97)), int(rng.randint(64, 129))
            label = np.ones((h, w), np.uint8)  # class 1 -> index 0 after reduce_zero_label
            img = np.full((h, w, 3), 40, np.uint8)
            y, x = int(rng.randint(0, h // 2)), int(rng.randint(0, w // 2))
            label[y:y + h // 2, x:x + w // 2] = 2
            img[label == 2] = (200, 80, 80)
            Image.fromarray(img).save(root / 'images' / split / f'ADE_{i}.jpg')
            Image.fromarray(label).save(root / 'annotations' / split / f'ADE_{i}.png')
    return root


def test_upernet_trains_2_iters_from_converted_beitv2_and_evaluates_miou(tmp_path):
    from mmengine import Config
    from mmengine.runner import Runner

    ckpt = tiny_beitv2_backbone_checkpoint(tmp_path)
    root = write_tiny_ade(tmp_path / 'ade')
    cfg = Config.fromfile(str(
        REPO / 'configs/benchmarks/mmsegmentation/'
        'upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-512x512.py'))
    c = TINY_ARCH['embed_dims']
    cfg.model.data_preprocessor.size = CROP
    cfg.model.backbone.update(arch=TINY_ARCH, img_size=CROP, out_indices=[0, 1, 2, 3],
                              drop_path_rate=0.0)
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    cfg.model.neck.update(in_channels=c, norm_cfg=dict(type='BN'))
    norm = dict(type='BN', requires_grad=True)
    cfg.model.decode_head.update(in_channels=[c] * 4, channels=16, norm_cfg=norm)
    cfg.model.auxiliary_head.update(in_channels=c, channels=16, norm_cfg=norm)
    cfg.model.test_cfg = dict(mode='slide', crop_size=CROP, stride=(32, 32))
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='RandomResize', scale=(128, 64), ratio_range=(0.8, 1.2), keep_ratio=True),
        dict(type='RandomCrop', crop_size=CROP, cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(128, 64), keep_ratio=True),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='PackSegInputs'),
    ]
    for loader, split, pipeline in (('train_dataloader', 'training', train_pipeline),
                                    ('val_dataloader', 'validation', test_pipeline)):
        dl = cfg[loader]
        dl.update(num_workers=0, persistent_workers=False)
        dl.dataset.update(data_root=str(root), pipeline=pipeline,
                          data_prefix=dict(img_path=f'images/{split}',
                                           seg_map_path=f'annotations/{split}'))
    cfg.train_dataloader.batch_size = 2
    cfg.test_dataloader = cfg.val_dataloader
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'

    # as mmseg's own tools/train.py: Runner.from_cfg on the config's optim_wrapper
    # (mmbeit.MixedPrecisionOptimWrapper: AMP on GPUs, fp32 on CPU where mmcv ops need it)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if not torch.cuda.is_available():
        assert type(runner.optim_wrapper).__name__ == 'OptimWrapper'
    assert runner.iter == 2
    loaded = torch.load(ckpt, weights_only=True)['state_dict']
    torch.testing.assert_close(runner.model.backbone.blocks[2].mlp.fc1.weight.detach(),
                               loaded['backbone.blocks.2.mlp.fc1.weight'], atol=2e-3, rtol=0)
    metrics = runner.val()
    assert 'mIoU' in metrics and np.isfinite(metrics['mIoU'])
