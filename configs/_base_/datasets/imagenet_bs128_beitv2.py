# ImageNet for BEiT v2 pretraining: 224 px view for the backbone, 224 px bicubic view for the
# VQ-KD tokenizer, crop scale (0.2, 1), exactly 75 of 14x14 patches masked.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomResizedCropAndInterpolationWithTwoPic',
        size=224,
        second_size=224,
        interpolation='bicubic',
        second_interpolation='bicubic',
        scale=(0.2, 1.0)),
    dict(
        type='BlockwiseMaskGenerator',
        input_size=14,
        num_masking_patches=75,
        min_num_patches=16,
        max_num_patches=None,
        mode='exact'),
    dict(type='PackInputs'),  # packs results['mask'] as a tensor by default
]
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
