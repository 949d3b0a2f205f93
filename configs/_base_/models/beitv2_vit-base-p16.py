# BEiT v2 ViT-B/16: backbone + patch-aggregation neck + shared LM head, VQ-KD targets.
# The VQ-KD tokenizer loads a local checkpoint (a configs/vqkd/ run's epoch_*.pth, or a
# converted release). Another file, in a child config (a top-level variable would be read when
# this file is, so a child's value would not reach the model):
#   model = dict(target_generator=dict(init_cfg=dict(checkpoint='PATH')))
# or on the command line: --cfg-options model.target_generator.init_cfg.checkpoint=PATH
model = dict(
    type='BEiTV2',
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        second_mean=[127.5, 127.5, 127.5],  # the tokenizer view in [-1, 1]
        second_std=[127.5, 127.5, 127.5],
        to_rgb=True),
    backbone=dict(
        type='BEiTViT',
        arch='base',
        img_size=224,
        patch_size=16,
        out_indices=[8, 11],  # block 9 (1-based) for the neck, and the last
        final_norm=False,  # the neck's norm is shared by both branches
        with_mask_token=True,
        use_shared_rel_pos_bias=True,
        layer_scale_init_value=0.1,
        drop_path_rate=0.0),
    neck=dict(
        type='PatchAggregationNeck',
        embed_dims=768,
        num_heads=12,
        num_layers=2,
        early_layers=9,
        layer_scale_init_value=0.1,
        drop_path_rate=0.0),
    head=dict(type='BEiTV2Head', embed_dims=768, num_tokens=8192, shared_lm_head=True),
    target_generator=dict(
        type='VQKDTokenizer',
        decoder=None,  # the encoder + quantizer are enough to tokenize
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vqkd_vit-base-p16_clip_in1k.pth')))
