# MoCo v3 ResNet-50 pretraining: the ViT schedule (imagenet_bs4096_adamw_coslr_300e_mocov3.py)
# with LARS lr 0.6 x 4096 / 256, momentum 0.9, weight decay 1e-6 (no decay and no LARS
# adaptation for BN and biases) in place of AdamW, and 10 warm-up epochs of 100.
_base_ = './imagenet_bs4096_adamw_coslr_300e_mocov3.py'
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='LARS', lr=0.6 * 4096 / 256, weight_decay=1e-6,
                   momentum=0.9),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True),  # BN of the shortcut
        'mlp.1': dict(decay_mult=0, lars_exclude=True),  # BNs of projector / predictor
        'mlp.4': dict(decay_mult=0, lars_exclude=True),
    }))
param_scheduler = [
    dict(_base_.param_scheduler[0], end=10),
    dict(_base_.param_scheduler[1], T_max=90, begin=10, end=100),
]
train_cfg = dict(max_epochs=100)
