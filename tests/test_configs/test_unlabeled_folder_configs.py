"""Every pretraining config runs on a folder of unlabeled images by overriding only
``train_dataloader.dataset.type`` and ``data_root`` (the README's commands, through
tools/train.py's argument handling), with a corrupt JPEG and a text file in the folder."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmbeit.registry import DATASETS
from tests.test_datasets.test_unlabeled_folder import GOOD, make_folder
from tools.train import merge_args, parse_args

REPO = Path(__file__).resolve().parents[2]
PRETRAIN_IN1K = sorted(
    str(p.relative_to(REPO)) for d in ('mocov3', 'vqkd', 'beit', 'beitv2')
    for p in (REPO / 'configs' / d).glob('*_in1k.py') if 'linear' not in p.name)
PRETRAIN_DIGITS = [  # one per family: MoCo v3, VQ-KD, BEiT v1, BEiT v2, dVAE
    'configs/mocov3/mocov3_vit-tiny-p4_1xb128-coslr-30e_digits.py',
    'configs/vqkd/vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py',
    'configs/beit/beit_vit-tiny-p4_1xb64-coslr-30e_digits.py',
    'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py',
    'configs/beit/dvae_dalle-tiny-64_1xb64-600iter_digits.py',
]


@pytest.fixture(scope='module')
def folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp('own') / 'images')


def _shapes(inputs) -> list:
    """Shapes of a packed sample's inputs: one image tensor, or one per view."""
    views = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    assert views and all(isinstance(v, torch.Tensor) and v.ndim == 3 for v in views), inputs
    return [tuple(v.shape) for v in views]


def _cfg(config, folder, work_dir, *extra):
    args = parse_args([config, '--work-dir', str(work_dir), '--no-persistent-workers',
                       '--cfg-options', 'train_dataloader.dataset.type=UnlabeledImageFolder',
                       f'train_dataloader.dataset.data_root={folder}', *extra])
    from mmengine.config import Config
    return merge_args(Config.fromfile(config), args)


def test_all_pretraining_families_are_covered():
    names = ' '.join(PRETRAIN_IN1K)
    for family in ('mocov3_', 'vqkd_', 'beit_', 'beitv2_', 'dvae_'):
        assert family in names


@pytest.mark.parametrize('config', PRETRAIN_IN1K, ids=lambda c: Path(c).stem)
def test_imagenet_recipe_pipeline_runs_on_the_folder(config, folder, tmp_path):
    # VQ-KD measures codebook usage on a validation loader: pointed at the folder too
    val = ['val_dataloader.dataset.type=UnlabeledImageFolder',
           f'val_dataloader.dataset.data_root={folder}'] if 'vqkd' in config else []
    cfg = _cfg(config, folder, tmp_path / 'work', *val)
    init_default_scope('mmbeit')
    loaders = [cfg.train_dataloader] + ([cfg.val_dataloader] if val else [])
    for loader in loaders:
        ds = DATASETS.build(dict(loader.dataset, cache_dir=str(tmp_path / 'cache')))
        assert len(ds) == len(GOOD) + 1
        bad = next(i for i in range(len(ds)) if 'broken' in ds.get_data_info(i)['img_path'])
        # the corrupt JPEG: the next image comes instead, a full sample of the same shapes
        good = ds[1 if bad == 0 else 0]['inputs']
        assert _shapes(ds[bad]['inputs']) == _shapes(good)
        assert ds.num_unreadable == 1


@pytest.mark.parametrize('config', PRETRAIN_DIGITS, ids=lambda c: Path(c).stem)
def test_pretraining_config_trains_on_the_folder(config, folder, tmp_path):
    cfg = _cfg(config, folder, tmp_path / 'work', 'train_dataloader.batch_size=2',
               'train_dataloader.num_workers=0')
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = None
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] != 'KNNMonitorHook']
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert torch.isfinite(torch.tensor(runner.message_hub.get_scalar('train/loss').current()))
    assert list((tmp_path / '.file_lists').glob('images-*.json'))  # beside the work dir


@pytest.mark.parametrize('config', [
    'configs/vqkd/vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py',
    'configs/demo/vqkd_vit-tiny-p4_1xb64-mocov3-teacher-demo_digits.py',
], ids=lambda c: Path(c).stem)
def test_small_vqkd_validates_on_96px_images(config, tmp_path):
    """The digits configs' val pipeline resizes to the model's 32 px: a folder of 96 px
    images validates (before: 'position embedding has 64 patch positions, the input has 576')."""
    import numpy as np
    from PIL import Image

    root = tmp_path / 'images96'
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(root / f'{i}.png')
    cfg = _cfg(config, root, tmp_path / 'work', 'val_dataloader.dataset.type=UnlabeledImageFolder',
               f'val_dataloader.dataset.data_root={root}', 'model.teacher.checkpoint=random')
    init_default_scope('mmbeit')
    ds = DATASETS.build(dict(cfg.val_dataloader.dataset, cache_dir=str(tmp_path / 'cache')))
    assert _shapes(ds[0]['inputs']) == [(3, 32, 32)]
    from mmengine.dataset import default_collate

    from mmbeit.registry import MODELS
    model = MODELS.build(cfg.model).eval()
    outputs = model.val_step(default_collate([ds[i] for i in range(3)]))
    assert len(outputs) == 3
