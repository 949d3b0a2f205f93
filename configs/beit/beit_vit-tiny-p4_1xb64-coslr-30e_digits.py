# BEiT v1 on the embedded digits, CPU in minutes: 32 px, patch 4 (8x8 grid), up to 26 cells
# masked (v1 masking), a small randomly initialised frozen tokenizer in place of the dVAE.
_base_ = '../beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py'
model = dict(
    _delete_=True,
    type='BEiT',
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor',
        mean=[127.5] * 3, std=[127.5] * 3,
        second_mean=[127.5] * 3, second_std=[127.5] * 3,
        to_rgb=True),
    backbone=dict(
        type='BEiTViT',
        arch=dict(embed_dims=128, num_layers=6, num_heads=4),
        img_size=32, patch_size=4, out_indices=[-1], final_norm=True,
        with_mask_token=True, use_shared_rel_pos_bias=True, layer_scale_init_value=0.1,
        drop_path_rate=0.1),
    head=dict(type='BEiTV1Head', embed_dims=128, num_tokens=64),
    target_generator=dict(type='RandomProjectionTokenizer', num_tokens=64, patch_size=4,
                          embed_dims=4, seed=0))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=32, second_size=32,
         interpolation='bicubic', second_interpolation='bicubic', scale=(0.5, 1.0)),
    dict(type='BlockwiseMaskGenerator', input_size=8, num_masking_patches=26,
         min_num_patches=4, max_num_patches=None, mode='v1'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
