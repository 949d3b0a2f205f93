"""tools/analysis_tools/knn_eval.py: config + checkpoint (+ data root) and nothing else."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import REPO_ROOT

PRETRAIN = 'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py'
TRANSFER = 'configs/benchmarks/classification/beitv2_vit-tiny-p4_1xb64-coslr-10e_digits.py'


@pytest.fixture(scope='module')
def knn_tool():
    spec = importlib.util.spec_from_file_location(
        'knn_tool', REPO_ROOT / 'tools' / 'analysis_tools' / 'knn_eval.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_imagenet_layout(root, per_class: int = 3):
    """DIR/{train,val}/<class>/*.png: two colours, so kNN has something to find."""
    rng = np.random.RandomState(0)
    for split in ('train', 'val'):
        for name, colour in (('n01', (200, 40, 40)), ('n02', (40, 40, 200))):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                img = np.clip(np.array(colour) + rng.randint(-20, 20, (40, 48, 3)), 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(root / split / name / f'{i}.png')
    return root


def _child_with_missing_tokenizer_file(tmp_path):
    child = tmp_path / 'beitv2_dalle.py'
    child.write_text(
        f"_base_ = ['{REPO_ROOT / PRETRAIN}']\n"
        "model = dict(target_generator=dict(\n"
        "    _delete_=True, type='DALLEdVAE', with_decoder=False,\n"
        "    encoder=dict(group_count=1, n_hid=8, n_blk_per_group=1, num_tokens=64),\n"
        f"    init_cfg=dict(type='Pretrained', checkpoint='{tmp_path}/absent_tokenizer.pth')))\n")
    return str(child)


def _save_model_checkpoint(knn_tool, config, path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmbeit.registry import MODELS

    init_default_scope('mmbeit')
    model = MODELS.build(knn_tool.without_pretrained_files(Config.fromfile(config).model.to_dict()))
    torch.save({'state_dict': model.state_dict()}, path)
    return model


def test_pretraining_checkpoint_needs_no_tokenizer_file_and_data_root_suffices(knn_tool,
                                                                                tmp_path):
    config = _child_with_missing_tokenizer_file(tmp_path)
    ckpt = tmp_path / 'epoch_1.pth'
    _save_model_checkpoint(knn_tool, config, ckpt)
    root = write_imagenet_layout(tmp_path / 'imagenet')
    result = knn_tool.main([config, str(ckpt), '--data-root', str(root), '--k', '3',
                            '--batch-size', '4', '--num-workers', '0'])
    assert result['bank'] == 6 and result['query'] == 6 and math.isfinite(result['top1'])


def test_transfer_config_with_backbone_checkpoint_ignores_its_init_cfg_path(knn_tool, tmp_path):
    model = _save_model_checkpoint(knn_tool, str(REPO_ROOT / TRANSFER), tmp_path / 'full.pth')
    backbone = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in model.backbone.state_dict().items()}}, backbone)
    root = write_imagenet_layout(tmp_path / 'imagenet')
    result = knn_tool.main([str(REPO_ROOT / TRANSFER), str(backbone), '--data-root', str(root),
                            '--k', '3', '--batch-size', '6', '--num-workers', '0',
                            '--cfg-options', 'model.backbone.init_cfg.checkpoint='])
    assert math.isfinite(result['top1'])


def test_missing_inputs_fail_before_the_model_is_built(knn_tool, tmp_path, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError('the model was built before the inputs were checked')

    monkeypatch.setattr(knn_tool.MODELS, 'build', no_build)
    config = _child_with_missing_tokenizer_file(tmp_path)
    with pytest.raises(SystemExit, match='absent.pth does not exist'):
        knn_tool.main([config, str(tmp_path / 'absent.pth')])
    ckpt = tmp_path / 'present.pth'
    torch.save({'state_dict': {}}, ckpt)
    with pytest.raises(SystemExit, match='neither a KNNMonitorHook nor a val_dataloader: pass '
                                         '--data-root'):
        knn_tool.main([config, str(ckpt)])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='has no train/ folder'):
        knn_tool.main([config, str(ckpt), '--data-root', str(tmp_path / 'empty')])
