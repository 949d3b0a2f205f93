# BEiT / BEiT v2 on the embedded digits (CPU, fp32): AdamW lr 1.5e-3, betas (0.9, 0.98), weight
# decay 0.05 (none for 1-D parameters and CLS), gradient clipping 3.0; 2 warm-up epochs, then
# cosine to 1e-5 at epoch 30.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.98), weight_decay=0.05, fused=True),
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
