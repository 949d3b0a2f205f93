# Demo stage 2: VQ-KD tokenizer on the embedded digits with the stage-1 MoCo v3 backbone as
# the teacher (tools/demo.py passes model.teacher.checkpoint=<stage-1 checkpoint>).
_base_ = ['../vqkd/vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py']
teacher_dims = 192
max_iters = 400
model = dict(
    tokenizer=dict(target_dims=teacher_dims),
    # a small MoCo v3 ViT's patch features share one direction (cos ~0.98): centre the targets
    target_center_momentum=0.9,
    teacher=dict(
        _delete_=True,
        type='BackboneTeacher',
        # the MoCo v3 demo backbone: same arch, trained on [-1, 1] inputs
        backbone=dict(type='MoCoV3ViT', arch=dict(embed_dims=teacher_dims, num_layers=4,
                                                  num_heads=3),
                      img_size=32, patch_size=4, out_type='featmap'),
        checkpoint=None,
        prefix='backbone.',
        mean=[0.5] * 3, std=[0.5] * 3))
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16')
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=15),
    dict(type='CosineAnnealingLR', eta_min=1e-5, T_max=max_iters - 15, by_epoch=False,
         begin=15, end=max_iters),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=1))
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
log_processor = dict(by_epoch=False)
