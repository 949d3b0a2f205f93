# Shared by the mmdet configs here: the benchmarks' BEiT ViT-B/16 backbone + adapter
# (../../_base_/beit-vit-base-p16_adapter_layer-decay.py) at 1024 px (image_size) with mmdet's
# FPN after the adapter (used as _base_.beit_backbone / _base_.beit_neck), LSJ 1024 data, AdamW
# + layer decay.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    '../../_base_/beit-vit-base-p16_adapter_layer-decay.py',
]
image_size = (1024, 1024)
embed_dims = _base_.embed_dims
beit_backbone = dict(_base_.beit_vit_backbone, img_size=image_size)
beit_neck = [
    _base_.beit_vit_adapter,
    dict(type='FPN', in_channels=[embed_dims] * 4, out_channels=256, num_outs=5),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(_base_.beit_vit_optim_wrapper, _delete_=True)  # lr 1e-4
max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=3)
auto_scale_lr = dict(enable=False, base_batch_size=16)
