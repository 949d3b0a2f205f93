# BEiT v1 on the embedded digits, CPU in minutes: 32 px, patch 4 (8x8 grid), up to 26 cells
# masked (v1 masking), a small randomly initialised frozen tokenizer in place of the dVAE; the
# BEiT v2 digits recipe's data, schedule and ViT with BEiT v1's model.
_base_ = [
    '../_base_/models/vit-tiny-p4_digits.py',
    '../_base_/datasets/digits_bs64_beit.py',
    '../_base_/schedules/digits_bs64_adamw_coslr_30e_beit.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='BEiT',
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
        second_mean=[127.5] * 3, second_std=[127.5] * 3, to_rgb=True),
    backbone=dict(_base_.beit_vit_tiny, out_indices=[-1], final_norm=True,
                  with_mask_token=True, use_shared_rel_pos_bias=True, drop_path_rate=0.1),
    head=dict(type='BEiTV1Head', embed_dims=_base_.beit_vit_tiny.arch.embed_dims, num_tokens=64),
    target_generator=_base_.random_tokenizer_tiny)
train_pipeline = [
    *_base_.train_pipeline[:2],  # load, two-view crop
    dict(_base_.train_pipeline[2], mode='v1'),  # BlockwiseMaskGenerator: v1 block-wise masking
    _base_.train_pipeline[3],  # PackInputs
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
