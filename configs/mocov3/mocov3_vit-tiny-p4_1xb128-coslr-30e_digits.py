# MoCo v3 on the embedded digits, on CPU in about a minute: a 4-block ViT (192 wide) at 32 px
# with 4 px patches (frozen random projection, sin-cos positions), small projector / predictor,
# light augmentation (crops, brightness / contrast, slight blur; no flips: digits are not
# mirror-symmetric), AdamW, and the kNN monitor on the val split every 5 epochs.
_base_ = ['../_base_/models/vit-tiny-p4_digits.py', '../_base_/default_runtime.py']
embed_dims = _base_.mocov3_vit_tiny.arch.embed_dims  # 192
model = dict(
    type='MoCoV3',
    base_momentum=0.99,
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           to_rgb=True),
    backbone=dict(_base_.mocov3_vit_tiny, out_type='cls_token'),
    neck=dict(type='MoCoV3MLP', in_channels=embed_dims, hid_channels=512, out_channels=128,
              num_layers=3),
    predictor=dict(type='MoCoV3MLP', in_channels=128, hid_channels=512, out_channels=128,
                   num_layers=2),
    head=dict(type='MoCoV3ContrastiveHead', temperature=0.2))

# RandomResizedCrop (pillow) -> RandomApply(ColorJitter) -> GaussianBlur, in one step
view_pipeline = [
    dict(type='ResizedCropView', size=32, scale=(0.4, 1.0), interpolation='bilinear',
         color_jitter=dict(brightness=0.4, contrast=0.4), jitter_prob=0.8, blur_prob=0.2,
         blur_sigma=(0.1, 0.8)),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackUint8Inputs'),
]
# resized to the model's 32 px: the digits are 32 px already (unchanged); other folders
# given by --cfg-options (own images) get the input size the position embedding holds
eval_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', scale=(32, 32), interpolation='bicubic', backend='pillow'),
                 dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsDataset', data_root='data/digits', split='train',
                 pipeline=train_pipeline))
knn_loader = dict(
    batch_size=256,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'))
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='KNNMonitorHook', by_epoch=True, interval=5, k=20, temperature=0.07,
         train_dataloader=dict(
             **knn_loader, dataset=dict(type='DigitsDataset', data_root='data/digits',
                                        split='train', pipeline=eval_pipeline)),
         val_dataloader=dict(
             **knn_loader, dataset=dict(type='DigitsDataset', data_root='data/digits',
                                        split='val', pipeline=eval_pipeline))),
    dict(type='GradientSpikeHook', interval=1, spike_ratio=10.0, window=50),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=27, by_epoch=True, begin=3, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=10, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
auto_scale_lr = dict(base_batch_size=128)
