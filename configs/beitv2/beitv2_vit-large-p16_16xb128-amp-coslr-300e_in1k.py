# BEiT v2 ViT-L/16, 300 epochs: patch tokens of block 21 of 24, layer scale 1e-5.
_base_ = './beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py'
model = dict(
    backbone=dict(arch='large', out_indices=[20, 23], layer_scale_init_value=1e-5),
    neck=dict(embed_dims=1024, num_heads=16, early_layers=21, layer_scale_init_value=1e-5),
    head=dict(embed_dims=1024))
