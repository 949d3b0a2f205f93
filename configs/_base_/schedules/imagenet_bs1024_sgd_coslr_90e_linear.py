# Linear probing of a frozen backbone: total batch 1024, SGD lr 3 x 1024 / 256 (MoCo v3's rule,
# lr 0.1 x batch / 256 for ResNet-50), momentum 0.9, no weight decay; cosine over 90 epochs,
# validation every epoch.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=3.0 * 1024 / 256, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90)]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
