# The BEiT / BEiT v2 ViT-B/16 of the detection and segmentation benchmarks, written once and
# used by name: blocks 4, 6, 8, 12 as feature maps, per-block relative position bias (convert a
# pretraining checkpoint with --unshare-rel-pos-bias), layer scale 0.1, drop path 0.1; mmbeit's
# multi-scale adapter (4x / 2x transposed convs, identity, max-pool: strides 4 to 32); AdamW with
# layer-wise lr decay 0.75 (AMP on GPUs). A task config replaces its own backbone / neck /
# optimizer with them and sets the input size (and the lr):
#   model = dict(backbone=dict(_base_.beit_vit_backbone, _delete_=True, img_size=(512, 512)))
custom_imports = dict(imports=['mmbeit.models', 'mmbeit.engine'], allow_failed_imports=False)
embed_dims = 768
beit_vit_backbone = dict(
    type='mmbeit.BEiTViT',
    arch='base',
    patch_size=16,
    out_indices=[3, 5, 7, 11],
    out_type='featmap',
    final_norm=False,
    use_rel_pos_bias=True,
    use_shared_rel_pos_bias=False,
    layer_scale_init_value=0.1,
    drop_path_rate=0.1,
    init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.'))
beit_vit_adapter = dict(type='mmbeit.MultiScaleAdapter', in_channels=embed_dims, layout='beit',
                        norm_cfg=dict(type='SyncBN', requires_grad=True))
beit_vit_optim_wrapper = dict(
    type='mmbeit.MixedPrecisionOptimWrapper',  # AMP on GPUs, fp32 on CPU (mmcv ops)
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05, fused=True),
    constructor='mmbeit.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
