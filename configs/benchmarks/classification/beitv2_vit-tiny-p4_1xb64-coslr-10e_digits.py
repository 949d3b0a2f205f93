# Fine-tune the tiny digits BEiT v2 (configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py)
# on the embedded digits, CPU in a few minutes. Backbone checkpoint:
#   python tools/model_converters/extract_backbone.py work_dirs/<pretrain>/epoch_30.pth \
#       work_dirs/digits_backbone.pth --prefix backbone. --unshare-rel-pos-bias
_base_ = ['../../_base_/models/vit-tiny-p4_digits.py', '../../_base_/default_runtime.py']
embed_dims = _base_.beit_vit_tiny.arch.embed_dims  # 128
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10, mean=[127.5] * 3,
                           std=[127.5] * 3, to_rgb=True),
    backbone=dict(
        _base_.beit_vit_tiny, out_type='avg_featmap', avg_token_norm=True, final_norm=False,
        use_rel_pos_bias=True, use_shared_rel_pos_bias=False, drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/digits_backbone.pth',
                      prefix='backbone.')),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=embed_dims,
              loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
              init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.6, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=5, magnitude_std=0.5, hparams=dict(pad_val=0, interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3),
    dict(type='PackInputs'),
]
# resized to the model's 32 px: the digits are 32 px already (unchanged); other folders
# given by --cfg-options (own images) get the input size the position embedding holds
test_pipeline = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', scale=(32, 32), interpolation='bicubic', backend='pillow'),
                 dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='DigitsDataset', data_root='data/digits', split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DigitsDataset', data_root='data/digits', split='val',
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05, fused=True),
    constructor='mmbeit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=1, end=10,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=1))
