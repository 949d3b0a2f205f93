# Train the DALL-E dVAE (the BEiT v1 tokenizer) on ImageNet as in the DALL-E paper: 256 px
# crops, total batch 512, 3M updates, AdamW (0.9, 0.999, eps 1e-8, weight decay 1e-4), step size
# cosine from 1e-4 to 1.25e-6 over the first 1.2M updates, bf16 autocast. The trained encoder
# tokenizes 112 px views for BEiT v1: point DALLEdVAE(checkpoint=...) at a saved iter_*.pth.
# Per-resblock gradient scaling (the paper's fp16 trick) is not implemented: use bf16.
_base_ = [
    '../_base_/models/dalle_dvae.py',
    '../_base_/default_runtime.py',
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # RandomResizedCrop (pillow, bicubic) -> RandomFlip, bit for bit, inside Pillow
    dict(type='ResizedCropView', size=256, scale=(0.35, 1.0), interpolation='bicubic',
         flip_prob=0.5),
    dict(type='PackUint8Inputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ImageNet', data_root='data/imagenet/', split='train',
                 pipeline=train_pipeline))
optim_wrapper = dict(
    type='AutocastOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4, fused=True))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=1.25e-6, by_epoch=False, begin=0, end=1200000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=3000000)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
find_unused_parameters = False
