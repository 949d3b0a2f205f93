# BEiT v1 ViT-B/16, 300 epochs (the paper's ablation length and mmpretrain's recipe).
_base_ = './beit_vit-base-p16_16xb128-amp-coslr-800e_in1k.py'
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=300)
