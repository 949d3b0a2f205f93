"""A tiny classification config on the embedded digits data, written into tests' tmp dirs.

Randomness enters through data order, RandomResizedCrop / flip (numpy), drop path (torch) and
python's ``random`` (RandomChoice-free pipelines still seed it): exactly what resume must replay.
"""

TINY_CLS_CONFIG = """
_base_ = ['{repo}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.run_hooks'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10,
                           mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True),
    backbone=dict(type='BEiTViT', arch=dict(embed_dims=32, num_layers=2, num_heads=2),
                  img_size=16, patch_size=4, out_type='avg_featmap', avg_token_norm=True,
                  drop_path_rate=0.2, drop_rate=0.1),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers={workers}, persistent_workers={persistent},
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='DigitsDataset', data_root='{data_root}', split='train',
                 pipeline=train_pipeline))
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', T_max={iters}, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={iters})
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval={ckpt_every},
                                     by_epoch=False, max_keep_ckpts={max_keep}),
                     logger=dict(type='LoggerHook', interval=2))
custom_hooks = [dict(type='RandomStateHook')] + {extra_hooks}
randomness = dict(seed=123)
"""


def write_tiny_config(path, repo, data_root, iters=8, ckpt_every=4, workers=0,
                      extra_hooks='[]', max_keep=-1) -> str:
    text = TINY_CLS_CONFIG.format(repo=repo, data_root=data_root, iters=iters,
                                  ckpt_every=ckpt_every, workers=workers, max_keep=max_keep,
                                  persistent=workers > 0, extra_hooks=extra_hooks)
    path.write_text(text)
    return str(path)
