# Mask R-CNN with ViTDet's simple feature pyramid (all four scales from the last block) in
# place of BEiT's four-block adapter, followed by mmdet's FPN.
_base_ = ['./mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py']
embed_dims = 768
model = dict(
    backbone=dict(out_indices=[11]),
    neck=[
        dict(type='mmbeit.MultiScaleAdapter', in_channels=embed_dims, layout='simple_pyramid',
             out_channels=256),
        dict(type='FPN', in_channels=[256] * 4, out_channels=256, num_outs=5),
    ])
