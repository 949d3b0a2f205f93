# Linear probe of a MoCo v3 ViT-S/16 pretraining checkpoint: frozen backbone, CLS token after
# the final LayerNorm -> linear classifier; SGD lr 3 x 1024 / 256, momentum 0.9, wd 0, batch
# 1024 (8 x 128), 90 epochs cosine, mmpretrain's ImageNet pipeline. 73.2 top-1 in the paper.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/schedules/imagenet_bs1024_sgd_coslr_90e_linear.py',
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
# frozen_stages = depth freezes the whole backbone (final LayerNorm included): only the head
# trains (and its lr is the one logged)
