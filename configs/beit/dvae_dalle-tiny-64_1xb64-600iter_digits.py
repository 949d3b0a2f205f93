# A tiny DALL-E dVAE on the embedded digits (32 px), CPU in about a minute: 64 codes on an 8 x 8
# grid; temperature 1 -> 1/16 over 300 iterations, KL weight 0 -> 6.6 over 100.
_base_ = [
    '../_base_/models/dalle_dvae_tiny.py',
    '../_base_/default_runtime.py',
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='DigitsDataset', data_root='data/digits', split='train',
                 pipeline=train_pipeline))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=2e-5, by_epoch=False, begin=0, end=600),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=600)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=300, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
