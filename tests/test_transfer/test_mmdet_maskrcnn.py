"""Mask R-CNN (mmdet 3.x) with the BEiT v2 backbone: 2 training iterations + COCO evaluation."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from .pretrain_checkpoint import TINY_DIMS, tiny_transfer_config, train_two_iters

pytest.importorskip('mmdet')
from pycocotools import mask as mask_util  # noqa: E402  (an mmdet dependency)
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

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
    ann = write_tiny_coco(tmp_path / 'coco')
    cfg, ckpt = tiny_transfer_config(tmp_path, 'mmdet', SIZE)
    cfg.model.neck[0].update(in_channels=TINY_DIMS, norm_cfg=dict(type='BN'))
    cfg.model.neck[1].update(in_channels=[TINY_DIMS] * 4, out_channels=32)
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
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    runner = train_two_iters(cfg, tmp_path, ckpt, 'blocks.1.attn.qkv.weight')
    metrics = runner.val()
    # the reported mAPs are pycocotools' COCOeval of the model's own detections on the val
    # images (boxes as x, y, w, h; masks as RLE; label i is category i + 1)
    dets = dict(bbox=[], segm=[])
    with torch.no_grad():
        for batch in runner.val_dataloader:
            for sample in runner.model.val_step(batch):
                pred = sample.pred_instances
                for (x1, y1, x2, y2), score, label, mask in zip(
                        pred.bboxes.tolist(), pred.scores.tolist(), pred.labels.tolist(),
                        pred.masks.numpy()):
                    common = dict(image_id=sample.img_id, category_id=label + 1, score=score)
                    dets['bbox'].append(dict(common, bbox=[x1, y1, x2 - x1, y2 - y1]))
                    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
                    dets['segm'].append(dict(common, segmentation=dict(
                        size=rle['size'], counts=rle['counts'].decode())))
    coco = COCO(str(ann))
    for iou_type, results in dets.items():
        assert results, 'no detections to evaluate'
        evaluation = COCOeval(coco, coco.loadRes(results), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        for i, name in enumerate(('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')):
            assert metrics[f'coco/{iou_type}_{name}'] == pytest.approx(evaluation.stats[i],
                                                                     abs=6e-4), name
