# Linear probe of a MoCo v3 ViT-L/16 checkpoint (as ViT-S: SGD lr 3 x 1024 / 256, 90 epochs).
_base_ = ['./mocov3_vit-small-p16_linear-8xb128-coslr-90e_in1k.py']
model = dict(backbone=dict(arch='large', frozen_stages=24), head=dict(in_channels=1024))
