# ImageNet for BEiT v1 pretraining: 224 px bicubic view for the backbone, 112 px lanczos view
# for the DALL-E dVAE (8x8 cells -> 14x14 tokens), crop scale (0.08, 1), up to 75 of 14x14
# patches masked (v1 block-wise masking).
# JitterFlipTwoPicResizedCrop is mmpretrain's ColorJitter -> RandomFlip ->
# RandomResizedCropAndInterpolationWithTwoPic in one step, bit for bit, working on the crop;
# PackUint8Inputs hands uint8 views to the data preprocessor (benchmarks/data_pipeline.py).
_base_ = './imagenet_bs128_pretrain.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='JitterFlipTwoPicResizedCrop',
        size=224,
        second_size=112,
        interpolation='bicubic',
        second_interpolation='lanczos',
        scale=(0.08, 1.0),
        color_jitter=dict(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.0),
        flip_prob=0.5),
    dict(
        type='BlockwiseMaskGenerator',
        input_size=14,
        num_masking_patches=75,
        min_num_patches=16,
        max_num_patches=None,
        mode='v1'),
    dict(type='PackUint8Inputs'),  # packs results['mask'] as a tensor by default
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
