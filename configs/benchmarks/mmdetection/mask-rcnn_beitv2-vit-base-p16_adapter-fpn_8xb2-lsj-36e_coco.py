# Mask R-CNN with the BEiT v2 ViT-B/16 backbone on COCO, run with mmdet 3.x (mmdet's own
# tools/train.py or mmbeit's). The single-scale ViT (blocks 4, 6, 8, 12) goes through mmbeit's
# multi-scale adapter (4x / 2x transposed convs, identity, max-pool) into mmdet's FPN.
# Fixed 1024x1024 inputs: large-scale jitter + crop, every image padded to 1024x1024 in the
# pipeline (train and test), because the backbone's relative position tables are built for one
# patch grid (64x64). Backbone weights (converted, shared bias copied to each block):
#   python tools/model_converters/extract_backbone.py PRETRAIN.pth backbone.pth \
#       --prefix backbone. --unshare-rel-pos-bias
#   ... --cfg-options model.backbone.init_cfg.checkpoint=backbone.pth
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './_base_/beit-vit-base_adapter-fpn_lsj-1024-36e_coco.py',
]
model = dict(backbone=dict(_base_.beit_backbone, _delete_=True), neck=_base_.beit_neck)
