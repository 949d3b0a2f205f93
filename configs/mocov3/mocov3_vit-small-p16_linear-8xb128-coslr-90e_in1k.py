# Linear probe of a MoCo v3 ViT-S/16 pretraining checkpoint: frozen backbone, CLS token after
# the final LayerNorm -> linear classifier; SGD lr 3 x 1024 / 256, momentum 0.9, wd 0, batch
# 1024 (8 x 128), 90 epochs cosine, mmpretrain's ImageNet pipeline. 73.2 top-1 in the paper.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/default_runtime.py',
]
embed_dims = 384
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MoCoV3ViT', arch='small', img_size=224, patch_size=16,
                  out_type='cls_token', frozen_stages=12,
                  init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=embed_dims,
              loss=dict(type='CrossEntropyLoss'),
              init_cfg=dict(type='Normal', std=0.01, layer='Linear')))
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
# the backbone (final LayerNorm included) stays as pretrained
# frozen_stages = depth freezes the whole backbone: only neck / head train (and are logged)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=3.0 * 1024 / 256, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90)]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
