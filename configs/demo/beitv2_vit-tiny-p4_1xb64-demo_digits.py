# Demo stage 3: BEiT v2 on the embedded digits with the stage-2 VQ-KD tokenizer as target
# generator (tools/demo.py passes model.target_generator.checkpoint=<stage-2 checkpoint>).
_base_ = ['../beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py']
num_tokens = 64
max_iters = 200
model = dict(
    head=dict(num_tokens=num_tokens),
    target_generator=dict(
        _delete_=True,
        type='VQKDTokenizer',
        encoder=_base_.vqkd_encoder_tiny,  # the stage-2 tokenizer's encoder
        num_tokens=num_tokens, code_dims=32, decoder=None,
        checkpoint=None))
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16')
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', eta_min=1e-5, T_max=max_iters - 20, by_epoch=False,
         begin=20, end=max_iters),
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(by_epoch=False, interval=50, max_keep_ckpts=1))
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
log_processor = dict(by_epoch=False)
