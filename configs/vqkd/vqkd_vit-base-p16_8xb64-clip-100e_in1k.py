# VQ-KD (BEiT v2 tokenizer) on ImageNet-1k with a CLIP ViT-B/16 teacher: 8 GPUs x 64, 100
# epochs, AdamW lr 5e-5 x 512/128, betas (0.9, 0.99), wd 1e-4, 10 warm-up epochs, cosine to
# 1e-5, RandomResizedCrop (0.08, 1) + flip, inputs in [-1, 1].
_base_ = [
    '../_base_/models/vqkd_vit-base-p16_clip.py',
    '../_base_/datasets/imagenet_bs64_vqkd.py',
    '../_base_/schedules/imagenet_bs512_adamw_coslr_100e_vqkd.py',
    '../_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=100),
                     checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2))
custom_hooks = [dict(type='RandomStateHook'), dict(type='CodebookUsageHook', interval=500)]
