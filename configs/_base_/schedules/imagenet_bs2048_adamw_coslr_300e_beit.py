# BEiT / BEiT v2 pretraining: total batch 2048, fp16 AMP AdamW lr 1.5e-3, betas (0.9, 0.98),
# weight decay 0.05 (none for biases, norms, layer-scale gammas, q / v biases (all 1-D), CLS and
# position embedding), gradient clipping 3.0; 10 warm-up epochs, then cosine to 1e-5 at epoch
# 300. Another length in a child config (the same warm-up, the cosine ending at epoch 800):
#   param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=800)]
#   train_cfg = dict(max_epochs=800)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.98), weight_decay=0.05, fused=True),
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
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=300,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
# the lr above is for 16 x 128; --auto-scale-lr rescales it to the actual total batch
auto_scale_lr = dict(base_batch_size=2048)
