# ImageNet for BEiT v2 pretraining: BEiT v1's pipeline (imagenet_bs128_beit.py) with a 224 px
# bicubic view for the VQ-KD tokenizer (the same pixels as the first view: resized once), crop
# scale (0.2, 1) and exactly 75 of 14x14 patches masked.
_base_ = './imagenet_bs128_beit.py'
train_pipeline = [
    _base_.train_pipeline[0],  # LoadImageFromFile
    dict(_base_.train_pipeline[1], second_size=224, second_interpolation='bicubic',
         scale=(0.2, 1.0)),  # JitterFlipTwoPicResizedCrop
    dict(_base_.train_pipeline[2], mode='exact'),  # BlockwiseMaskGenerator
    _base_.train_pipeline[3],  # PackUint8Inputs
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
