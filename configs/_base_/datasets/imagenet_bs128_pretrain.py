# ImageNet-1k train split for self-supervised pretraining (the labels are not used): the loader
# shared by the pretraining dataset bases next to this file, each of which sets its pipeline,
#   train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,  # GPU runs: page-locked batches copy asynchronously
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
