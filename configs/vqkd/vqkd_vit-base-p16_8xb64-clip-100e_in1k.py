# VQ-KD (BEiT v2 tokenizer) on ImageNet-1k with a CLIP ViT-B/16 teacher: 8 GPUs x 64, 100
# epochs, AdamW lr 5e-5 x 512/128, betas (0.9, 0.99), wd 1e-4, 10 warm-up epochs, cosine to
# 1e-5, RandomResizedCrop (0.08, 1) + flip, inputs in [-1, 1].
_base_ = [
    '../_base_/models/vqkd_vit-base-p16_clip.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/imagenet'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='train', pipeline=train_pipeline))
# codebook usage over the whole validation split
val_dataloader = dict(
    batch_size=64,
    num_workers=5,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='val', pipeline=val_pipeline))
val_evaluator = dict(type='CodebookUsageMetric', num_tokens=8192)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

base_lr = 5e-5  # per 128 images
optim_wrapper = dict(
    type='AutocastOptimWrapper',  # bf16 autocast, no loss scaler (GPU or CPU)
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=base_lr * 512 / 128, betas=(0.9, 0.99), weight_decay=1e-4),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=100),
                     checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2))
custom_hooks = [dict(type='RandomStateHook'), dict(type='CodebookUsageHook', interval=500)]
auto_scale_lr = dict(base_batch_size=512, enable=False)
