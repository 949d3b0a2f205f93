# Embedded digits for BEiT v1 / v2 on CPU: the BEiT v2 ImageNet pipeline (no colour jitter, no
# flip: digits are not mirror-symmetric) at 32 px for the backbone and the tokenizer, crop scale
# (0.5, 1), patch 4 -> 8x8 grid, 26 of 64 cells masked (about 40 %, as 75 of 196 on ImageNet).
_base_ = './imagenet_bs128_beitv2.py'
dataset_type = 'DigitsDataset'
data_root = 'data/digits'
train_pipeline = [
    _base_.train_pipeline[0],  # LoadImageFromFile
    dict(_base_.train_pipeline[1], size=32, second_size=32, scale=(0.5, 1.0),
         color_jitter=None, flip_prob=0.0),  # the two-view crop alone
    dict(_base_.train_pipeline[2], input_size=8, num_masking_patches=26, min_num_patches=4),
    _base_.train_pipeline[3],  # PackUint8Inputs (results['mask'] as a tensor by default)
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
