# ImageNet for VQ-KD tokenizer training: RandomResizedCrop (0.08, 1) + flip at 224 px, batch 64
# per GPU; codebook usage measured over the whole validation split (short side 256, centre
# crop 224).
_base_ = './imagenet_bs128_pretrain.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # RandomResizedCrop (pillow, bicubic) -> RandomFlip, bit for bit, inside Pillow
    dict(type='ResizedCropView', size=224, scale=(0.08, 1.0), interpolation='bicubic',
         flip_prob=0.5),
    dict(type='PackUint8Inputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, pin_memory=True, dataset=dict(pipeline=train_pipeline))
# the train loader on the val split, in order, with 5 workers
val_dataloader = dict(
    _base_.train_dataloader,
    batch_size=64,
    num_workers=5,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(_base_.train_dataloader.dataset, split='val', pipeline=val_pipeline))
val_evaluator = dict(type='CodebookUsageMetric', num_tokens=8192)
test_dataloader = val_dataloader
test_evaluator = val_evaluator
