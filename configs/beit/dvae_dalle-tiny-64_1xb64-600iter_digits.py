# A tiny DALL-E dVAE on the embedded digits (32 px), CPU in about a minute: the ImageNet recipe
# with 64 codes on an 8 x 8 grid (3 groups x 1 block, n_hid 32: downsampling 4), temperature
# 1 -> 1/16 over 300 iterations, KL weight 0 -> 6.6 over 100, fp32 AdamW lr 2e-3 with cosine
# to 2e-5 over 600 iterations.
_base_ = ['./dvae_dalle-8192_8xb64-amp-3000kiter-256px_in1k.py']
model = dict(
    tokenizer=dict(
        encoder=dict(group_count=3, n_hid=32, n_blk_per_group=1, num_tokens=64),
        decoder=dict(n_init=32, n_hid=32, n_blk_per_group=1)),
    temperature=dict(total_iters=300),
    kl_weight=dict(total_iters=100))
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='DigitsDataset', data_root='data/digits', pipeline=train_pipeline))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4, fused=True))
param_scheduler = [dict(_base_.param_scheduler[0], eta_min=2e-5, end=600)]
train_cfg = dict(max_iters=600)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=300, max_keep_ckpts=1))
