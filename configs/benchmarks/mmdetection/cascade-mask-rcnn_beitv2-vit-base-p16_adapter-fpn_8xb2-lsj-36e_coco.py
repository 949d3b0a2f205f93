# Cascade Mask R-CNN with the BEiT v2 ViT-B/16 backbone + multi-scale adapter + FPN (mmdet 3.x).
# Same backbone, adapter, data and optimizer as the Mask R-CNN config next to it.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py',
    './_base_/beit-vit-base_adapter-fpn_lsj-1024-36e_coco.py',
]
model = dict(backbone=dict(_base_.beit_backbone, _delete_=True), neck=_base_.beit_neck)
