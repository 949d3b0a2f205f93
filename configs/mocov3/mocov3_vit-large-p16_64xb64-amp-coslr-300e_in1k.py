# MoCo v3 ViT-L/16 on ImageNet-1k: batch 4096 (64 GPUs x 64), AdamW lr 1.5e-4 x 4096 / 256,
# wd 0.1, 40 warm-up epochs, 300 epochs. ViT-L is where the paper's instability is worst: keep
# the patch projection frozen and watch the gradient-spike log.
_base_ = ['./mocov3_vit-small-p16_32xb128-amp-coslr-300e_in1k.py']
model = dict(backbone=dict(arch='large'), neck=dict(in_channels=1024))
train_dataloader = dict(batch_size=64)
