"""UperNet (mmseg 1.x) with the BEiT v2 backbone: 2 training iterations + mIoU evaluation."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .pretrain_checkpoint import TINY_DIMS, tiny_transfer_config, train_two_iters

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
    root = write_tiny_ade(tmp_path / 'ade')
    cfg, ckpt = tiny_transfer_config(tmp_path, 'mmseg', CROP)
    cfg.model.data_preprocessor.size = CROP
    cfg.model.neck.update(in_channels=TINY_DIMS, norm_cfg=dict(type='BN'))
    norm = dict(type='BN', requires_grad=True)
    # the images' two classes only (not ADE20K's 150): the scores are then not all zero
    cfg.model.decode_head.update(in_channels=[TINY_DIMS] * 4, channels=16, norm_cfg=norm,
                                 num_classes=2)
    cfg.model.auxiliary_head.update(in_channels=TINY_DIMS, channels=16, norm_cfg=norm,
                                    num_classes=2)
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
                          metainfo=dict(classes=('wall', 'building')),  # ADE ids 1, 2
                          data_prefix=dict(img_path=f'images/{split}',
                                           seg_map_path=f'annotations/{split}'))
    cfg.train_dataloader.batch_size = 2
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=2)
    runner = train_two_iters(cfg, tmp_path, ckpt, 'blocks.2.mlp.fc1.weight')
    metrics = runner.val()
    # the reported scores are those of the model's predictions on the val images, recomputed
    num_classes = len(runner.val_dataloader.dataset.metainfo['classes'])
    inter, union, label_area = (np.zeros(num_classes) for _ in range(3))
    with torch.no_grad():
        for batch in runner.val_dataloader:
            for sample in runner.model.val_step(batch):
                pred = sample.pred_sem_seg.data[0].numpy()
                gt = sample.gt_sem_seg.data[0].numpy()
                assert pred.shape == gt.shape == tuple(sample.ori_shape)  # at image size
                pred, gt = pred[gt != 255], gt[gt != 255]
                classes = np.arange(num_classes)[:, None]
                inter += ((pred == classes) & (gt == classes)).sum(1)
                union += ((pred == classes) | (gt == classes)).sum(1)
                label_area += (gt == classes).sum(1)
    assert metrics['aAcc'] == pytest.approx(100 * inter.sum() / label_area.sum(), abs=0.006)
    seen = union > 0
    assert metrics['mIoU'] == pytest.approx(100 * (inter[seen] / union[seen]).mean(), abs=0.006)
