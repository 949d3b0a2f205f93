# BEiT v2 on the embedded digits, CPU in minutes: 32 px, patch 4 (8x8 grid), 26 cells masked,
# a small randomly initialised frozen tokenizer (set `target_generator` to a trained VQ-KD
# with a local checkpoint to use real targets).
_base_ = [
    '../_base_/models/vit-tiny-p4_digits.py',
    '../_base_/datasets/digits_bs64_beit.py',
    '../_base_/schedules/digits_bs64_adamw_coslr_30e_beit.py',
    '../_base_/default_runtime.py',
]
# the neck and the head work at the tiny BEiT ViT's width
embed_dims = _base_.beit_vit_tiny.arch.embed_dims
num_heads = _base_.beit_vit_tiny.arch.num_heads
model = dict(
    type='BEiTV2',
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
        second_mean=[127.5] * 3, second_std=[127.5] * 3, to_rgb=True),
    backbone=dict(_base_.beit_vit_tiny, out_indices=[3, 5], final_norm=False,
                  with_mask_token=True, use_shared_rel_pos_bias=True),
    neck=dict(type='PatchAggregationNeck', embed_dims=embed_dims, num_heads=num_heads,
              num_layers=2, early_layers=4, layer_scale_init_value=0.1),
    head=dict(type='BEiTV2Head', embed_dims=embed_dims, num_tokens=64, shared_lm_head=True),
    target_generator=_base_.random_tokenizer_tiny)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10),
                     checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1))
