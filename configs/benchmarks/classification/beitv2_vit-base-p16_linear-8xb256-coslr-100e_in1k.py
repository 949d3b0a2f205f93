# BEiT v2 ViT-B/16 linear probe: frozen backbone, features = [CLS ; mean of patch tokens]
# of the last block, BatchNorm without affine, one linear layer. SGD lr 3 x batch/256
# (MoCo v3's linear-probe rule), 100 epochs, RandomResizedCrop + flip only.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../../_base_/schedules/imagenet_bs1024_sgd_coslr_90e_linear.py',
    '../../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BEiTViT', arch='base', img_size=224, patch_size=16, out_type='raw',
        final_norm=True, use_shared_rel_pos_bias=True, layer_scale_init_value=0.1,
        frozen_stages=12,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='ClsPatchPoolNeck', embed_dims=768),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=1536,
              loss=dict(type='CrossEntropyLoss'),
              init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01)))
train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)
# frozen_stages = depth freezes the whole backbone: only neck / head train (and are logged)
optim_wrapper = dict(optimizer=dict(lr=6.0))  # 3 x 2048 / 256
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(max_epochs=100, val_interval=5)
auto_scale_lr = dict(base_batch_size=2048)
