# VQ-KD on the embedded digits, CPU in about a minute: 32 px, patch 4 (8x8 grid), a 4-layer
# 64-d encoder, 64 codes x 32, 1-layer decoder, a frozen random-init tiny ViT teacher.
_base_ = ['../_base_/models/vit-tiny-p4_digits.py', '../_base_/default_runtime.py']
num_tokens = 64
embed_dims = _base_.vqkd_encoder_tiny.arch.embed_dims  # 64, the decoder's width too
teacher_dims = 64
model = dict(
    type='VQKD',
    data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           to_rgb=True),
    tokenizer=dict(
        type='VQKDTokenizer',
        encoder=_base_.vqkd_encoder_tiny,
        num_tokens=num_tokens,
        code_dims=32,
        decoder=dict(embed_dims=embed_dims, num_layers=1, num_heads=4),
        target_dims=teacher_dims,
        quantizer=dict(decay=0.99, kmeans_init=True, dead_code_window=20)),
    teacher=dict(
        type='BackboneTeacher',
        backbone=dict(type='BEiTViT', arch=dict(embed_dims=teacher_dims, num_layers=2,
                                                num_heads=4),
                      img_size=32, patch_size=4, pos_embed='learned',
                      use_shared_rel_pos_bias=False, layer_scale_init_value=0.0,
                      out_type='featmap'),
        checkpoint='random'))  # on purpose (tools/train.py refuses None)

data_root = 'data/digits'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizedCropView', size=32, scale=(0.6, 1.0), interpolation='bicubic'),
    dict(type='PackUint8Inputs'),
]
# resized to the model's 32 px: the digits are 32 px already (unchanged); other folders
# given by --cfg-options (own images) get the input size the position embedding holds
val_pipeline = [dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(32, 32), interpolation='bicubic', backend='pillow'),
                dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsDataset', data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=120,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsDataset', data_root=data_root, split='val', pipeline=val_pipeline))
val_evaluator = dict(type='CodebookUsageMetric', num_tokens=num_tokens)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.99), weight_decay=1e-4, fused=True),
    paramwise_cfg=dict(flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=20,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=20)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=20, max_keep_ckpts=1))
custom_hooks = [dict(type='RandomStateHook'), dict(type='CodebookUsageHook', interval=23)]
