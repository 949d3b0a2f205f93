# BEiT v1 ViT-B/16 fine-tuning on ImageNet-1k: 100 epochs, AdamW lr 5e-4 (batch 1024),
# layer decay 0.65, RandAugment + RandomErasing, Mixup 0.8 / CutMix 1.0, label smoothing 0.1.
# Backbone weights: tools/model_converters/extract_backbone.py CKPT OUT --prefix backbone.
#   --unshare-rel-pos-bias, then --cfg-options model.backbone.init_cfg.checkpoint=OUT
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../../_base_/schedules/imagenet_bs1024_adamw_layerdecay_coslr_100e.py',
    '../../_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='BEiTViT',
        arch='base',
        img_size=224,
        patch_size=16,
        out_type='avg_featmap',
        avg_token_norm=True,
        final_norm=False,
        use_rel_pos_bias=True,
        use_shared_rel_pos_bias=False,
        layer_scale_init_value=0.1,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)

default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                                     save_best='auto'),
                     logger=dict(type='LoggerHook', interval=100))
