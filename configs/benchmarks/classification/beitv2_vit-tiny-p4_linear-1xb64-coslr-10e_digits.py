# Linear probe of the tiny digits BEiT v2 on the embedded digits: frozen backbone (pretraining
# layout: shared relative position bias), [CLS ; mean patch] of the last block + BN + linear.
_base_ = ['./beitv2_vit-tiny-p4_1xb64-coslr-10e_digits.py']
embed_dims = _base_.embed_dims  # 128
model = dict(
    backbone=dict(_base_.beit_vit_tiny, _delete_=True, out_type='raw', final_norm=False,
                  use_shared_rel_pos_bias=True, frozen_stages=6,
                  init_cfg=_base_.model.backbone.init_cfg),
    neck=dict(type='ClsPatchPoolNeck', embed_dims=embed_dims),
    head=dict(in_channels=2 * embed_dims, loss=dict(_delete_=True, type='CrossEntropyLoss'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]),
    train_cfg=dict(_delete_=True))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.6, 1.0), backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# frozen_stages = depth freezes the whole backbone: only neck / head train (and are logged)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=10)]
