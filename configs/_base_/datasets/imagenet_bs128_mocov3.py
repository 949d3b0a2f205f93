# ImageNet for MoCo v3 (ViT): two asymmetric views per image (MultiView), crop scale (0.08, 1),
# colour jitter (hue 0.1), grayscale, blur (1.0 / 0.1), solarize (0 / 0.2), flip.
_base_ = './imagenet_bs128_pretrain.py'
view_pipeline1 = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=1.0),
    dict(type='Solarize', thr=128, prob=0.0),
    dict(type='RandomFlip', prob=0.5),
]
# the second view: blur 0.1 (1.0 in the first) and solarize 0.2 (0 in the first)
view_pipeline2 = [
    *view_pipeline1[:3],  # crop, colour jitter, grayscale
    dict(view_pipeline1[3], prob=0.1),  # GaussianBlur
    dict(view_pipeline1[4], prob=0.2),  # Solarize
    view_pipeline1[5],  # flip
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs'),
]
train_dataloader = dict(pin_memory=True, drop_last=True, dataset=dict(pipeline=train_pipeline))
