# ViT fine-tuning (BEiT / BEiT v2 / MoCo v3 backbones): total batch 1024, AdamW lr 5e-4, betas
# (0.9, 0.999), weight decay 0.05, layer-wise lr decay 0.65 (mmbeit's constructor); 20 warm-up
# epochs, then cosine to 1e-6 at epoch 100; validation every epoch.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.05, fused=True),
    constructor='mmbeit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.65))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=1e-6, by_epoch=True, begin=20, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
