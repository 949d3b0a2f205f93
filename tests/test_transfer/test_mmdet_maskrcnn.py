"""Mask R-CNN (mmdet 3.x) with the BEiT v2 backbone: 2 training iterations + COCO evaluation."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .pretrain_checkpoint import REPO, TINY_ARCH, tiny_beitv2_backbone_checkpoint

pytest.importorskip('mmdet')
pytestmark = pytest.mark.slow
SIZE = (128, 128)


def write_tiny_coco(root: Path, num_images: int = 4, seed: int = 0) -> Path:
    """Images of 64..128 px with filled rectangles; boxes and polygon masks in COCO json."""
    rng = np.random.RandomState(seed)
    (root / 'images').mkdir(parents=True)
    images, annotations = [], []
    for i in range(num_images):
        h, w = int(rng.randint(64, 129)), int(rng.randint(64, 129))
        img = np.full((h, w, 3), 30, np.uint8)
        for _ in range(2):
            bw, bh = int(rng.randint(16, w // 2)), int(rng.randint(16, h // 2))
            x, y = int(rng.randint(0, w - bw)), int(rng.randint(0, h - bh))
            cat = int(rng.randint(1, 3))
            img[y:y + bh, x:x + bw] = (220, 60, 60) if cat == 1 else (60, 220, 60)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=i + 1, category_id=cat, iscrowd=0,
                bbox=[x, y, bw, bh], area=float(bw * bh),
                segmentation=[[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]))
        Image.fromarray(img).save(root / 'images' / f'{i}.png')
        images.append(dict(id=i + 1, file_name=f'{i}.png', height=h, width=w))
    ann = root / 'instances.json'
    ann.write_text(json.dumps(dict(images=images, annotations=annotations, categories=[
        dict(id=1, name='red'), dict(id=2, name='green')])))
    return ann


def _resize_pipeline(pipeline):
    for t in pipeline:
        for key in ('scale', 'crop_size', 'size'):
            if key in t:
                t[key] = SIZE
    return pipeline


def test_maskrcnn_trains_2_iters_from_converted_beitv2_and_evaluates_coco(tmp_path):
    from mmengine import Config
    from mmengine.runner import Runner

    ckpt = tiny_beitv2_backbone_checkpoint(tmp_path)
    ann = write_tiny_coco(tmp_path / 'coco')
    cfg = Config.fromfile(str(
        REPO / 'configs/benchmarks/mmdetection/'
        'mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py'))
    c = TINY_ARCH['embed_dims']
    cfg.model.backbone.update(arch=TINY_ARCH, img_size=SIZE, out_indices=[0, 1, 2, 3],
                              drop_path_rate=0.0)
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    cfg.model.neck[0].update(in_channels=c, norm_cfg=dict(type='BN'))
    cfg.model.neck[1].update(in_channels=[c] * 4, out_channels=32)
    cfg.model.rpn_head.update(in_channels=32, feat_channels=32)
    cfg.model.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64, num_classes=2)
    cfg.model.roi_head.bbox_roi_extractor.out_channels = 32
    cfg.model.roi_head.mask_roi_extractor.out_channels = 32
    cfg.model.roi_head.mask_head.update(in_channels=32, conv_out_channels=32, num_classes=2)
    # test: an exact resize instead of resize + Pad (mmdet's Pad moves img_shape to the padded
    # size, so an untrained model's boxes can land wholly in the padding, which mmdet's CPU mask
    # pasting cannot handle)
    test_pipeline = [t for t in cfg.test_pipeline if t['type'] != 'Pad']
    for t in test_pipeline:
        if t['type'] == 'Resize':
            t.update(keep_ratio=False)
    for loader, pipeline in (('train_dataloader', cfg.train_pipeline),
                             ('val_dataloader', test_pipeline)):
        dl = cfg[loader]
        dl.update(batch_size=2, num_workers=0, persistent_workers=False)
        dl.dataset.update(data_root=str(ann.parent), ann_file=ann.name,
                          data_prefix=dict(img='images/'), metainfo=dict(classes=('red', 'green')),
                          pipeline=_resize_pipeline(pipeline))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.ann_file = str(ann)
    cfg.test_evaluator = cfg.val_evaluator
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'

    # as mmdet's own tools/train.py: Runner.from_cfg on the config's optim_wrapper
    # (mmbeit.MixedPrecisionOptimWrapper: AMP on GPUs, fp32 on CPU where mmcv ops need it)
    runner = Runner.from_cfg(cfg)
    runner.train()
    if not torch.cuda.is_available():
        assert type(runner.optim_wrapper).__name__ == 'OptimWrapper'
    assert runner.iter == 2
    loaded = torch.load(ckpt, weights_only=True)['state_dict']
    qkv = runner.model.backbone.blocks[1].attn.qkv.weight.detach()
    torch.testing.assert_close(qkv, loaded['backbone.blocks.1.attn.qkv.weight'], atol=2e-3,
                               rtol=0)
    metrics = runner.val()
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)
    assert all(np.isfinite(metrics[k]) for k in ('coco/bbox_mAP', 'coco/segm_mAP'))
