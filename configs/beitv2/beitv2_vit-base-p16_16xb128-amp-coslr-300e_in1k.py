# BEiT v2 ViT-B/16, 300 epochs on ImageNet-1k, batch 2048 (16 GPUs x 128), VQ-KD targets.
_base_ = [
    '../_base_/models/beitv2_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs128_beitv2.py',
    '../_base_/schedules/imagenet_bs2048_adamw_coslr_300e_beit.py',
    '../_base_/default_runtime.py',
]
# VQ-KD tokenizer weights (local file)
model = dict(target_generator=dict(
    init_cfg=dict(checkpoint='checkpoints/vqkd_vit-base-p16_clip_in1k.pth')))
randomness = dict(seed=0, diff_rank_seed=True)
