# BEiT v2 on the embedded digits, CPU in minutes: 32 px, patch 4 (8x8 grid), 26 cells masked,
# a small randomly initialised frozen tokenizer (set `target_generator` to a trained VQ-KD
# with a local checkpoint to use real targets).
_base_ = [
    '../_base_/datasets/digits_bs64_beit.py',
    '../_base_/default_runtime.py',
]
embed_dims, num_heads = 128, 4
model = dict(
    type='BEiTV2',
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor',
        mean=[127.5] * 3, std=[127.5] * 3,
        second_mean=[127.5] * 3, second_std=[127.5] * 3,
        to_rgb=True),
    backbone=dict(
        type='BEiTViT',
        arch=dict(embed_dims=embed_dims, num_layers=6, num_heads=num_heads),
        img_size=32, patch_size=4, out_indices=[3, 5], final_norm=False,
        with_mask_token=True, use_shared_rel_pos_bias=True, layer_scale_init_value=0.1),
    neck=dict(type='PatchAggregationNeck', embed_dims=embed_dims, num_heads=num_heads,
              num_layers=2, early_layers=4, layer_scale_init_value=0.1),
    head=dict(type='BEiTV2Head', embed_dims=embed_dims, num_tokens=64, shared_lm_head=True),
    target_generator=dict(type='RandomProjectionTokenizer', num_tokens=64, patch_size=4,
                          embed_dims=4, seed=0))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.98), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(flat_decay_mult=0.0,
                       custom_keys={'.cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2, end=30,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
