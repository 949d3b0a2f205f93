# Demo stage 1: MoCo v3 tiny ViT on the embedded digits, iteration-based (progress, resume),
# kNN monitor on the val split during training; bf16 autocast where the CPU has bf16 matmuls
# (AMX-BF16 / AVX512-BF16), else fp32 (AutocastOptimWrapper, tools/train.py --precision).
_base_ = ['../mocov3/mocov3_vit-tiny-p4_1xb128-coslr-30e_digits.py']
max_iters = 150
optim_wrapper = dict(type='AutocastOptimWrapper', dtype='bfloat16')
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, by_epoch=False, begin=20,
         end=max_iters),
]
knn_bank = dict(type='DigitsDataset', data_root='data/digits', split='train',
                pipeline={{_base_.eval_pipeline}})
knn_query = dict(type='DigitsDataset', data_root='data/digits', split='val',
                 pipeline={{_base_.eval_pipeline}})
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='KNNMonitorHook', by_epoch=False, interval=50, k=20, temperature=0.07,
         train_dataloader=dict(batch_size=256, num_workers=0, dataset=knn_bank,
                               sampler=dict(type='DefaultSampler', shuffle=False),
                               collate_fn=dict(type='default_collate')),
         val_dataloader=dict(batch_size=256, num_workers=0, dataset=knn_query,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             collate_fn=dict(type='default_collate'))),
    dict(type='GradientSpikeHook', interval=1, spike_ratio=10.0, window=50),
]
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(by_epoch=False, interval=50, max_keep_ckpts=1))
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
log_processor = dict(by_epoch=False)
