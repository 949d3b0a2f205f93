# MoCo v3 ViT-B/16 fine-tuning: 150 epochs, AdamW lr 5e-4 (batch 512 x 2 -> scaled), layer decay
# 0.65, same augmentation as BEiT. The MoCo v3 backbone: fixed 2D sin-cos position embedding,
# no relative position bias, no layer scale.
_base_ = ['./beit_vit-base-p16_8xb128-coslr-100e_in1k.py']
model = dict(backbone=dict(
    pos_embed='sincos', use_rel_pos_bias=False, use_shared_rel_pos_bias=False,
    layer_scale_init_value=0.0))
train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=145, eta_min=1e-6, by_epoch=True, begin=5, end=150,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=150)
auto_scale_lr = dict(base_batch_size=512)
