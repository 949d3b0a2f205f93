# MoCo v3 ViT-S/16 on ImageNet-1k: batch 4096 (32 GPUs x 128), AdamW lr 1.5e-4 x 4096 / 256,
# wd 0.1, 40 warm-up epochs then cosine, 300 epochs, fp16 AMP, SyncBN in the MLPs.
_base_ = [
    '../_base_/models/mocov3_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs128_mocov3.py',
    '../_base_/schedules/imagenet_bs4096_adamw_coslr_300e_mocov3.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(arch='small'), neck=dict(in_channels=384))
sync_bn = 'torch'
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# the paper's instability monitors: gradient norms of the patch projection vs the rest
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='GradientSpikeHook', interval=10, spike_ratio=10.0),
]
