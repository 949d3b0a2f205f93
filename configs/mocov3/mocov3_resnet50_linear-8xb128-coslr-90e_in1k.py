# Linear probe of a MoCo v3 ResNet-50 checkpoint: frozen backbone (BN in eval mode), global
# pooled 2048-d feature -> linear; SGD lr 0.1 x 1024 / 256, momentum 0.9, wd 0, 90 epochs.
_base_ = ['./mocov3_vit-small-p16_linear-8xb128-coslr-90e_in1k.py']
model = dict(
    backbone=dict(_delete_=True, type='ResNet', depth=50, frozen_stages=4, norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(in_channels=2048))
optim_wrapper = dict(optimizer=dict(lr=0.1 * 1024 / 256))
