# VQ-KD tokenizer training: total batch 512, bf16 autocast AdamW lr 5e-5 x 512 / 128, betas
# (0.9, 0.99), weight decay 1e-4 (none for 1-D parameters, CLS and position embedding); 10
# warm-up epochs, then cosine to 1e-5 at epoch 100; codebook usage on the val split every 10.
base_lr = 5e-5  # per 128 images
optim_wrapper = dict(
    type='AutocastOptimWrapper',  # bf16 autocast, no loss scaler (GPU or CPU)
    dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=base_lr * 512 / 128, betas=(0.9, 0.99), weight_decay=1e-4, fused=True),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512, enable=False)
