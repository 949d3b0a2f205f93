# Linear probe of a MoCo v3 ViT-B/16 checkpoint (as ViT-S: SGD lr 3 x 1024 / 256, 90 epochs).
# 76.7 top-1 in the paper.
_base_ = ['./mocov3_vit-small-p16_linear-8xb128-coslr-90e_in1k.py']
model = dict(backbone=dict(arch='base'), head=dict(in_channels=768))
