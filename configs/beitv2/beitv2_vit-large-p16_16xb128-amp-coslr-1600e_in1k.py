# BEiT v2 ViT-L/16, 1600 epochs: the ViT-B 1600-epoch recipe (betas (0.9, 0.999), drop path
# 0.1) with the ViT-L model of the 300-epoch ViT-L recipe.
_base_ = './beitv2_vit-base-p16_16xb128-amp-coslr-1600e_in1k.py'
model = dict(
    backbone=dict(arch='large', out_indices=[20, 23], layer_scale_init_value=1e-5),
    neck=dict(embed_dims=1024, num_heads=16, early_layers=21, layer_scale_init_value=1e-5),
    head=dict(embed_dims=1024))
