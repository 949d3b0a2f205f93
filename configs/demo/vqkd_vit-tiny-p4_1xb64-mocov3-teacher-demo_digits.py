# Demo stage 2: VQ-KD tokenizer on the embedded digits with the stage-1 MoCo v3 backbone as
# the teacher (tools/demo.py passes model.teacher.checkpoint=<stage-1 checkpoint>): the
# MoCo v3 teacher recipe, iteration-based.
_base_ = ['../vqkd/vqkd_vit-tiny-p4_1xb64-mocov3-teacher-20e_digits.py']
max_iters = 400
model = dict(teacher=dict(checkpoint=None))
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
