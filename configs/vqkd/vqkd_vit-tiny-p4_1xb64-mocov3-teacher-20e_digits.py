# VQ-KD on the embedded digits with a MoCo v3 tiny ViT (trained with mmbeit) as the teacher:
# --cfg-options model.teacher.checkpoint=PATH (or model = dict(teacher=dict(checkpoint=PATH))
# in a child config); the backbone below must match the MoCo v3 config that produced it.
_base_ = ['./vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py']
teacher_dims = 192
model = dict(
    tokenizer=dict(target_dims=teacher_dims),
    # a small MoCo v3 ViT's patch features share one direction (cos ~0.98): centre the targets
    target_center_momentum=0.9,
    teacher=dict(
        _delete_=True,
        type='BackboneTeacher',
        backbone=dict(type='BEiTViT', arch=dict(embed_dims=teacher_dims, num_layers=6,
                                                num_heads=3),
                      img_size=32, patch_size=4, pos_embed='sincos',
                      use_shared_rel_pos_bias=False, layer_scale_init_value=0.0,
                      out_type='featmap'),
        checkpoint='work_dirs/mocov3_vit-tiny-p4_digits/latest.pth',
        prefix='backbone.'))
