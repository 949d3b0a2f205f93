# ImageNet for BEiT v2 pretraining: BEiT v1's pipeline (imagenet_bs128_beit.py) with a 224 px
# bicubic view for the VQ-KD tokenizer, crop scale (0.2, 1) and exactly 75 of 14x14 patches
# masked.
_base_ = './imagenet_bs128_beit.py'
train_pipeline = [
    *_base_.train_pipeline[:3],  # load, colour jitter, flip
    dict(_base_.train_pipeline[3], second_size=224, second_interpolation='bicubic',
         scale=(0.2, 1.0)),
    dict(_base_.train_pipeline[4], mode='exact'),  # BlockwiseMaskGenerator
    _base_.train_pipeline[5],  # PackInputs
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
