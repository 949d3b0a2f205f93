# MoCo v3 ViT pretraining: total batch 4096, fp16 AMP AdamW lr 1.5e-4 x 4096 / 256, weight
# decay 0.1; 40 warm-up epochs, then cosine to 0 at epoch 300.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, weight_decay=0.1, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=260, by_epoch=True, begin=40, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
# the lr above is for 4096 images; --auto-scale-lr rescales it to the actual total batch
auto_scale_lr = dict(base_batch_size=4096)
