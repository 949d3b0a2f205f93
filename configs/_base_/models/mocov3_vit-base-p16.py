# MoCo v3 ViT-B/16: frozen random patch projection, fixed 2D sin-cos position embedding,
# 3-layer projector (4096 -> 256), 2-layer predictor (4096, last BN), T = 0.2, m 0.99 -> 1.
embed_dims = 768
model = dict(
    type='MoCoV3',
    base_momentum=0.99,
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='MoCoV3ViT', arch='base', img_size=224, patch_size=16,
                  frozen_patch_embed=True, out_type='cls_token'),
    neck=dict(type='MoCoV3MLP', in_channels=embed_dims, hid_channels=4096, out_channels=256,
              num_layers=3, last_bn=True),
    predictor=dict(type='MoCoV3MLP', in_channels=256, hid_channels=4096, out_channels=256,
                   num_layers=2, last_bn=True),
    head=dict(type='MoCoV3ContrastiveHead', temperature=0.2))
