# BEiT v1 ViT-B/16, 300 epochs on ImageNet-1k (the paper's ablation length and mmpretrain's
# recipe), batch 2048 (16 GPUs x 128), DALL-E dVAE targets; AdamW betas (0.9, 0.999).
_base_ = [
    '../_base_/models/beit_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs128_beit.py',
    '../_base_/schedules/imagenet_bs2048_adamw_coslr_300e_beit.py',
    '../_base_/default_runtime.py',
]
# DALL-E dVAE encoder weights: a state dict converted once from OpenAI's encoder.pkl
# (python -c "import dall_e, torch; torch.save(torch.load('encoder.pkl', weights_only=False)
# .state_dict(), 'checkpoints/dalle_encoder.pth')"), or a configs/beit/dvae_* run's checkpoint
model = dict(target_generator=dict(init_cfg=dict(checkpoint='checkpoints/dalle_encoder.pth')))
optim_wrapper = dict(optimizer=dict(betas=(0.9, 0.999)))
randomness = dict(seed=0, diff_rank_seed=True)
