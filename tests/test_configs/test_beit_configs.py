"""Every BEiT v1 / v2 config builds, and runs 2 iterations through MMEngine's Runner.

ImageNet recipes run with their own pipeline, optimizer and schedule on embedded digits images
(upsampled to 224 by the crop) with the model shrunk to a tiny ViT and a random frozen
tokenizer of the recipe's vocabulary and grid; the full-size ViT-L model is built once.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmbeit  # noqa: F401
from mmbeit.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(str(p.relative_to(REPO)) for d in ('beit', 'beitv2')
                 for p in (REPO / 'configs' / d).glob(f'{d}_*.py'))
TINY = dict(embed_dims=32, num_layers=4, num_heads=2)


def _pipeline_step(pipeline, name):
    return next(t for t in pipeline if t['type'] == name)


def _shrink(cfg):
    """Tiny ViT at the recipe's image size, and a random tokenizer on the recipe's grid."""
    model = cfg.model
    backbone = model.backbone
    grid = backbone.img_size // backbone.patch_size
    second = _pipeline_step(cfg.train_dataloader.dataset.pipeline,
                            'JitterFlipTwoPicResizedCrop')['second_size']
    backbone.arch = TINY
    if model.get('neck') is not None:
        backbone.out_indices = [2, 3]
        model.neck.update(embed_dims=TINY['embed_dims'], num_heads=TINY['num_heads'],
                          early_layers=3)
    model.head.embed_dims = TINY['embed_dims']
    model.target_generator = dict(type='RandomProjectionTokenizer',
                                  num_tokens=model.head.num_tokens,
                                  patch_size=second // grid, embed_dims=8)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_runs_two_iterations(config, tmp_path, digits_root):
    cfg = Config.fromfile(str(REPO / config))
    if 'digits' not in config:
        _shrink(cfg)
    pipeline = cfg.train_dataloader.dataset.pipeline
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset = dict(type='DigitsDataset', data_root=str(digits_root),
                                        split='train', pipeline=pipeline, indices=4)
    if cfg.optim_wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale')
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(tmp_path)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    scalars = runner.message_hub.log_scalars
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
    assert 'train/mlm_acc' in scalars
    if cfg.model.type == 'BEiTV2':
        assert 'train/loss_agg' in scalars and 'train/mlm_acc_agg' in scalars


def test_large_recipe_builds_at_full_size():
    cfg = Config.fromfile(str(REPO / 'configs/beitv2/beitv2_vit-large-p16_16xb128-amp-coslr-'
                                     '300e_in1k.py'))
    cfg.model.target_generator.pop('init_cfg')  # no checkpoint file in tests
    model = MODELS.build(cfg.model)
    assert model.backbone.num_layers == 24 and model.backbone.embed_dims == 1024
    assert model.neck.early_index == 20 and model.backbone.out_indices == [20, 23]
    assert model.backbone.blocks[0].gamma_1[0].item() == pytest.approx(1e-5)
    assert model.head.lm_head.out_features == 8192


# recipe -> (epochs, AdamW betas): BEiT v1 and BEiT v2 1600e use (0.9, 0.999), BEiT v2 300e 0.98
IN1K_SCHEDULES = {
    'configs/beit/beit_vit-base-p16_16xb128-amp-coslr-300e_in1k.py': (300, (0.9, 0.999)),
    'configs/beit/beit_vit-base-p16_16xb128-amp-coslr-800e_in1k.py': (800, (0.9, 0.999)),
    'configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py': (300, (0.9, 0.98)),
    'configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-1600e_in1k.py': (1600, (0.9, 0.999)),
    'configs/beitv2/beitv2_vit-large-p16_16xb128-amp-coslr-300e_in1k.py': (300, (0.9, 0.98)),
    'configs/beitv2/beitv2_vit-large-p16_16xb128-amp-coslr-1600e_in1k.py': (1600, (0.9, 0.999)),
    'configs/beitv2/beitv2_vit-large-p16_16xb128-fsdp-amp-coslr-300e_in1k.py': (300, (0.9, 0.98)),
}


def test_every_imagenet_recipe_has_its_schedule():
    assert sorted(IN1K_SCHEDULES) == [c for c in CONFIGS if c.endswith('_in1k.py')]


@pytest.mark.parametrize('config', sorted(IN1K_SCHEDULES), ids=lambda c: Path(c).stem)
def test_imagenet_recipe_schedule(config):
    """The shared BEiT schedule: AMP AdamW 1.5e-3 for batch 2048, wd 0.05, clip 3, 10 warm-up
    epochs, then cosine to 1e-5 at the recipe's last epoch."""
    epochs, betas = IN1K_SCHEDULES[config]
    cfg = Config.fromfile(str(REPO / config))
    wrapper = cfg.optim_wrapper
    assert wrapper.type == 'AmpOptimWrapper' and wrapper.clip_grad == dict(max_norm=3.0)
    assert wrapper.optimizer == dict(type='AdamW', lr=1.5e-3, betas=betas, weight_decay=0.05,
                                  fused=True)
    assert set(wrapper.paramwise_cfg.custom_keys) == {'.cls_token', '.pos_embed'}
    warmup, cosine = cfg.param_scheduler  # exactly two
    assert (warmup.type, warmup.start_factor, warmup.begin, warmup.end) == ('LinearLR', 1e-4, 0,
                                                                            10)
    assert (cosine.type, cosine.eta_min, cosine.begin, cosine.end) == ('CosineAnnealingLR', 1e-5,
                                                                       10, epochs)
    assert warmup.convert_to_iter_based and cosine.convert_to_iter_based
    assert cfg.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=epochs)
    assert cfg.auto_scale_lr.base_batch_size == 16 * cfg.train_dataloader.batch_size == 2048
    if '1600e' in config:  # drop path 0.1 in the backbone and the neck
        assert cfg.model.backbone.drop_path_rate == cfg.model.neck.drop_path_rate == 0.1


def test_imagenet_pipelines_differ_only_where_the_papers_do():
    v1, v2 = (Config.fromfile(str(REPO / c)).train_dataloader.dataset.pipeline for c in (
        'configs/beit/beit_vit-base-p16_16xb128-amp-coslr-800e_in1k.py',
        'configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py'))
    assert [t['type'] for t in v1] == [t['type'] for t in v2]
    crop1, crop2 = (_pipeline_step(p, 'JitterFlipTwoPicResizedCrop')
                    for p in (v1, v2))
    assert (crop1.second_size, crop1.second_interpolation, crop1.scale) == (112, 'lanczos',
                                                                           (0.08, 1.0))
    assert (crop2.second_size, crop2.second_interpolation, crop2.scale) == (224, 'bicubic',
                                                                           (0.2, 1.0))
    mask1, mask2 = (_pipeline_step(p, 'BlockwiseMaskGenerator') for p in (v1, v2))
    assert (mask1.mode, mask2.mode) == ('v1', 'exact')
    assert dict(mask1, mode='exact') == mask2  # the same 75 of 14x14 patches otherwise
    rest = [t for t in v1 if t not in (crop1, mask1)]
    assert rest == [t for t in v2 if t not in (crop2, mask2)]


def test_digits_recipes_share_data_schedule_and_vit():
    """BEiT v1 digits is not BEiT v2 digits with parts deleted: both are built from the same
    bases and differ in the model and the masking mode only."""
    v1 = Config.fromfile(str(REPO / 'configs/beit/beit_vit-tiny-p4_1xb64-coslr-30e_digits.py'))
    v2 = Config.fromfile(str(REPO / 'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py'))
    assert v1.optim_wrapper == v2.optim_wrapper and v1.param_scheduler == v2.param_scheduler
    assert v1.train_cfg == v2.train_cfg == dict(type='EpochBasedTrainLoop', max_epochs=30)
    assert (v1.model.type, v2.model.type) == ('BEiT', 'BEiTV2')
    assert 'neck' not in v1.model and v2.model.neck.type == 'PatchAggregationNeck'
    tiny = v1.beit_vit_tiny
    for backbone in (v1.model.backbone, v2.model.backbone):
        assert {k: backbone[k] for k in tiny} == tiny
    assert v1.model.target_generator == v2.model.target_generator == v1.random_tokenizer_tiny
    p1, p2 = v1.train_dataloader.dataset.pipeline, v2.train_dataloader.dataset.pipeline
    mask1, mask2 = (_pipeline_step(p, 'BlockwiseMaskGenerator') for p in (p1, p2))
    assert (mask1.mode, mask2.mode) == ('v1', 'exact')
    assert dict(mask1, mode='exact') == mask2
    assert [t for t in p1 if t is not mask1] == [t for t in p2 if t is not mask2]
    grid = tiny.img_size // tiny.patch_size
    assert mask2.input_size == grid == 8 and mask2.num_masking_patches == 26
