# MoCo v3 ViT-B/16 on ImageNet-1k: as ViT-S (batch 4096, AdamW lr 1.5e-4 x 4096 / 256, wd 0.1,
# 40 warm-up epochs, 300 epochs) with the base width. Linear probe 76.7 in the paper.
_base_ = ['./mocov3_vit-small-p16_32xb128-amp-coslr-300e_in1k.py']
model = dict(backbone=dict(arch='base'), neck=dict(in_channels=768))
