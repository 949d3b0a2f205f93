# UperNet with the BEiT v2 ViT-B/16 backbone on ADE20K, 512x512 crops, 160k iterations, run
# with mmseg 1.x (mmseg's own tools/train.py or mmbeit's). Blocks 4, 6, 8, 12 go through
# mmbeit's multi-scale adapter (strides 4, 8, 16, 32) into UPerHead. Layer decay 0.75 (ViT-B;
# 0.9 for ViT-L), AdamW, warm-up 1500 iterations, then poly decay.
# Inputs are always 512x512 for the backbone (its relative position tables are built for a
# 32x32 patch grid): training crops are padded to 512 by the data preprocessor, testing is
# sliding-window with 512x512 windows (the short side is resized to 512 first).
# Backbone weights:
#   python tools/model_converters/extract_backbone.py PRETRAIN.pth backbone.pth \
#       --prefix backbone. --unshare-rel-pos-bias
#   ... --cfg-options model.backbone.init_cfg.checkpoint=backbone.pth
_base_ = [
    'mmseg::_base_/models/upernet_beit.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    '../_base_/beit-vit-base-p16_adapter_layer-decay.py',
]
crop_size = (512, 512)
embed_dims = _base_.embed_dims
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(_base_.beit_vit_backbone, _delete_=True, img_size=crop_size),
    neck=dict(_base_.beit_vit_adapter, _delete_=True),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=embed_dims, num_classes=150),
    auxiliary_head=dict(in_channels=embed_dims, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _base_.beit_vit_optim_wrapper, _delete_=True,
    optimizer=dict(_base_.beit_vit_optim_wrapper.optimizer, lr=3e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000),
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
