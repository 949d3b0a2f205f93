# Embedded digits for BEiT v1 / v2 on CPU: 32 px views for the backbone and the tokenizer,
# patch 4 -> 8x8 grid, 26 of 64 cells masked (about 40 %, as 75 of 196 on ImageNet).
dataset_type = 'DigitsDataset'
data_root = 'data/digits'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCropAndInterpolationWithTwoPic',
        size=32,
        second_size=32,
        interpolation='bicubic',
        second_interpolation='bicubic',
        scale=(0.5, 1.0)),
    dict(
        type='BlockwiseMaskGenerator',
        input_size=8,
        num_masking_patches=26,
        min_num_patches=4,
        max_num_patches=None,
        mode='exact'),
    dict(type='PackInputs'),  # packs results['mask'] as a tensor by default
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
