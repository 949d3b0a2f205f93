# Shared by the mmdet configs here: BEiT ViT-B/16 backbone + adapter + FPN (used as
# {{_base_.beit_backbone}} / {{_base_.beit_neck}}), LSJ 1024 data, AdamW + layer decay.
_base_ = [
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmbeit.models', 'mmbeit.engine'], allow_failed_imports=False)

image_size = (1024, 1024)
embed_dims = 768
beit_backbone = dict(
        _delete_=True,
        type='mmbeit.BEiTViT',
        arch='base',
        img_size=image_size,
        patch_size=16,
        out_indices=[3, 5, 7, 11],
        out_type='featmap',
        final_norm=False,
        use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False,
        layer_scale_init_value=0.1,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.'))
beit_neck = [
        dict(type='mmbeit.MultiScaleAdapter', in_channels=embed_dims, layout='beit',
             norm_cfg=dict(type='SyncBN', requires_grad=True)),
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

optim_wrapper = dict(
    _delete_=True,
    type='mmbeit.MixedPrecisionOptimWrapper',  # AMP on GPUs, fp32 on CPU (mmcv ops)
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='mmbeit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=3)
auto_scale_lr = dict(enable=False, base_batch_size=16)
