# MoCo v3 ResNet-50 (mmpretrain's ResNet): 2-layer projector (4096 -> 256, last BN), 2-layer
# predictor without last BN, T = 1.0, m 0.99 -> 1.
model = dict(
    type='MoCoV3',
    base_momentum=0.99,
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='ResNet', depth=50, zero_init_residual=True),
    neck=dict(type='MoCoV3MLP', in_channels=2048, hid_channels=4096, out_channels=256,
              num_layers=2, last_bn=True),
    predictor=dict(type='MoCoV3MLP', in_channels=256, hid_channels=4096, out_channels=256,
                   num_layers=2, last_bn=False),
    head=dict(type='MoCoV3ContrastiveHead', temperature=1.0))
