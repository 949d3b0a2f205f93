# MoCo v3 ViT-S/16 on ImageNet-1k: batch 4096 (32 GPUs x 128), AdamW lr 1.5e-4 x 4096 / 256,
# wd 0.1, 40 warm-up epochs then cosine, 300 epochs, fp16 AMP, SyncBN in the MLPs.
_base_ = [
    '../_base_/models/mocov3_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs128_mocov3.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='small'), neck=dict(in_channels=384))
sync_bn = 'torch'
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, weight_decay=0.1))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# the paper's instability monitors: gradient norms of the patch projection vs the rest
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='GradientSpikeHook', interval=10, spike_ratio=10.0),
]
# lr above is for 32 x 128; --auto-scale-lr rescales it to the actual total batch
auto_scale_lr = dict(base_batch_size=4096)
