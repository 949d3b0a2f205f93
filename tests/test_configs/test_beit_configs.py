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
from mmbeit.registry import MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(str(p.relative_to(REPO)) for d in ('beit', 'beitv2')
                 for p in (REPO / 'configs' / d).glob(f'{d}_*.py'))
TINY = dict(embed_dims=32, num_layers=4, num_heads=2)


def _pipeline_step(pipeline, name):
    return next(t for t in pipeline if t['type'] == name)


def _use_mmpretrain_masking_if_ours_is_missing(pipeline):
    # BlockwiseMaskGenerator is written in parallel (issue 4, item 1); until it lands, the
    # config runs with mmpretrain's generator of the same block statistics.
    if TRANSFORMS.get('BlockwiseMaskGenerator') is not None:
        return
    step = _pipeline_step(pipeline, 'BlockwiseMaskGenerator')
    size = step['input_size']
    step.update(type='BEiTMaskGenerator', input_size=(size, size) if isinstance(size, int)
                else tuple(size))
    step.pop('mode', None)


def _shrink(cfg):
    """Tiny ViT at the recipe's image size, and a random tokenizer on the recipe's grid."""
    model = cfg.model
    backbone = model.backbone
    grid = backbone.img_size // backbone.patch_size
    second = _pipeline_step(cfg.train_dataloader.dataset.pipeline,
                            'RandomResizedCropAndInterpolationWithTwoPic')['second_size']
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
    _use_mmpretrain_masking_if_ours_is_missing(pipeline)
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
    if MODELS.get(cfg.model.target_generator.type) is None:  # tokenizer written in parallel
        cfg.model.target_generator = dict(type='RandomProjectionTokenizer', num_tokens=8192)
    else:
        cfg.model.target_generator.pop('init_cfg')  # no checkpoint file in tests
    model = MODELS.build(cfg.model)
    assert model.backbone.num_layers == 24 and model.backbone.embed_dims == 1024
    assert model.neck.early_index == 20 and model.backbone.out_indices == [20, 23]
    assert model.backbone.blocks[0].gamma_1[0].item() == pytest.approx(1e-5)
    assert model.head.lm_head.out_features == 8192
