# ImageNet for MoCo v3 (ViT): two asymmetric views per image (MultiView), crop scale (0.08, 1),
# colour jitter (hue 0.1), grayscale, blur (1.0 / 0.1), solarize (0 / 0.2), flip.
# ResizedCropView is mmpretrain's RandomResizedCrop (pillow) -> RandomApply(ColorJitter) ->
# RandomGrayscale -> GaussianBlur -> Solarize -> RandomFlip in one step inside Pillow, bit for
# bit with the same random draws (benchmarks/data_pipeline.py).
_base_ = './imagenet_bs128_pretrain.py'
view_pipeline1 = [
    dict(
        type='ResizedCropView',
        size=224,
        scale=(0.08, 1.0),
        interpolation='bilinear',
        color_jitter=dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1),
        jitter_prob=0.8,
        grayscale_prob=0.2,
        grayscale_weights=(0.114, 0.587, 0.2989),
        blur_prob=1.0,
        blur_sigma=(0.1, 2.0),
        solarize_prob=0.0,
        solarize_threshold=128,
        flip_prob=0.5),
]
# the second view: blur 0.1 (1.0 in the first) and solarize 0.2 (0 in the first)
view_pipeline2 = [dict(view_pipeline1[0], blur_prob=0.1, solarize_prob=0.2)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackUint8Inputs'),
]
train_dataloader = dict(pin_memory=True, drop_last=True, dataset=dict(pipeline=train_pipeline))
