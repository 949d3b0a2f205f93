# BEiT v1 ViT-B/16, 800 epochs on ImageNet-1k (the paper's main recipe): the 300-epoch recipe
# with the cosine running to epoch 800.
_base_ = './beit_vit-base-p16_16xb128-amp-coslr-300e_in1k.py'
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=800)]
train_cfg = dict(max_epochs=800)
