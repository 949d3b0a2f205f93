# VQ-KD on the embedded digits with a MoCo v3 tiny ViT (trained with mmbeit,
# configs/mocov3/mocov3_vit-tiny-p4_1xb128-coslr-30e_digits.py) as the teacher:
# --cfg-options model.teacher.checkpoint=PATH (or model = dict(teacher=dict(checkpoint=PATH))
# in a child config). The teacher is that config's backbone by construction (the same
# _base_/models/vit-tiny-p4_digits.py entry), giving patch features, on the [-1, 1] inputs it
# was trained on.
_base_ = ['./vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py']
teacher_dims = _base_.mocov3_vit_tiny.arch.embed_dims  # 192
model = dict(
    tokenizer=dict(target_dims=teacher_dims),
    # a small MoCo v3 ViT's patch features share one direction (cos ~0.98): centre the targets
    target_center_momentum=0.9,
    teacher=dict(
        _delete_=True,
        type='BackboneTeacher',
        backbone=dict(_base_.mocov3_vit_tiny, out_type='featmap'),
        checkpoint='work_dirs/mocov3_vit-tiny-p4_digits/latest.pth',
        prefix='backbone.',
        mean=[0.5] * 3, std=[0.5] * 3))
