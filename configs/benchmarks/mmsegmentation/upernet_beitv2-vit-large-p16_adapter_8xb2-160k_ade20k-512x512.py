# UperNet + BEiT v2 ViT-L/16 on ADE20K: as the ViT-B config, with blocks 8, 12, 16, 24,
# layer scale 1e-5, drop path 0.2 and layer decay 0.9 (56.7 mIoU reported for 1600e).
_base_ = ['./upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-512x512.py']
embed_dims = 1024
model = dict(
    backbone=dict(arch='large', out_indices=[7, 11, 15, 23], layer_scale_init_value=1e-5,
                  drop_path_rate=0.2),
    neck=dict(in_channels=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims),
    auxiliary_head=dict(in_channels=embed_dims))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.9))
