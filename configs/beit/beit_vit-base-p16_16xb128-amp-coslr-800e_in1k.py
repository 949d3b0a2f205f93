# BEiT v1 ViT-B/16, 800 epochs on ImageNet-1k, batch 2048 (16 GPUs x 128), DALL-E dVAE targets.
_base_ = [
    '../_base_/models/beit_vit-base-p16.py',
    '../_base_/datasets/imagenet_bs128_beit.py',
    '../_base_/default_runtime.py',
]
# DALL-E dVAE encoder weights: a state dict converted once from OpenAI's encoder.pkl
# (python -c "import dall_e, torch; torch.save(dall_e.load_model('encoder.pkl').state_dict(),
# 'checkpoints/dalle_encoder.pth')"), or a configs/beit/dvae_* run's checkpoint
model = dict(target_generator=dict(init_cfg=dict(checkpoint='checkpoints/dalle_encoder.pth')))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=800,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=800)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=2048)
