# BEiT v2 ViT-B/16, 1600 epochs: betas (0.9, 0.999), drop path 0.1, the cosine running to
# epoch 1600.
_base_ = './beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py'
model = dict(backbone=dict(drop_path_rate=0.1), neck=dict(drop_path_rate=0.1))
optim_wrapper = dict(optimizer=dict(betas=(0.9, 0.999)))
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=1600)]
train_cfg = dict(max_epochs=1600)
