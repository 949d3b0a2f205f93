# MoCo v3 ResNet-50 on ImageNet-1k: batch 4096 (32 x 128), LARS lr 0.6 x 4096 / 256, wd 1e-6
# (no decay / LARS adaptation for BN and biases), 10 warm-up epochs, 100 epochs, T = 1.0,
# crop scale (0.2, 1).
_base_ = [
    '../_base_/models/mocov3_resnet50.py',
    '../_base_/datasets/imagenet_bs128_mocov3.py',
    '../_base_/schedules/imagenet_bs4096_lars_coslr_100e_mocov3.py',
    '../_base_/default_runtime.py',
]
# crop scale (0.2, 1) in both views, instead of the ViT's (0.08, 1)
view_pipeline1 = [dict(_base_.view_pipeline1[0], scale=(0.2, 1.0))]  # ResizedCropView
view_pipeline2 = [dict(_base_.view_pipeline2[0], scale=(0.2, 1.0))]
train_pipeline = [
    _base_.train_pipeline[0],  # LoadImageFromFile
    dict(_base_.train_pipeline[1], transforms=[view_pipeline1, view_pipeline2]),  # MultiView
    _base_.train_pipeline[2],  # PackUint8Inputs
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
sync_bn = 'torch'
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
