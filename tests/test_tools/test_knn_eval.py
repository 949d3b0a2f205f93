"""tools/analysis_tools/knn_eval.py: config + checkpoint (+ data root) and nothing else."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import REPO_ROOT
from tests.test_tools.tool_module import load_tool

PRETRAIN = 'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py'
TRANSFER = 'configs/benchmarks/classification/beitv2_vit-tiny-p4_1xb64-coslr-10e_digits.py'


@pytest.fixture(scope='module')
def knn_tool():
    return load_tool('tools/analysis_tools/knn_eval.py')


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
    assert result['bank'] == 6 and result['query'] == 6
    assert result['pooling'] == 'cls'  # raw tokens: the default contract, named in the result
    assert result['top1'] == 100.0  # two colours: every query's 3 neighbours share its class


def test_transfer_config_with_backbone_checkpoint_ignores_its_init_cfg_path(knn_tool, tmp_path):
    model = _save_model_checkpoint(knn_tool, str(REPO_ROOT / TRANSFER), tmp_path / 'full.pth')
    backbone = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in model.backbone.state_dict().items()}}, backbone)
    root = write_imagenet_layout(tmp_path / 'imagenet')
    args = [str(REPO_ROOT / TRANSFER), str(backbone), '--data-root', str(root), '--k', '3',
            '--batch-size', '6', '--num-workers', '0',
            '--cfg-options', 'model.backbone.init_cfg.checkpoint=']
    result = knn_tool.main(args)
    assert result['pooling'] == 'mean_patch'  # what the backbone's out_type='avg_featmap' does
    assert result['top1'] == 100.0
    with pytest.raises(ValueError, match="out_type='avg_featmap' gives pooling 'mean_patch', "
                                         "but pooling='cls'"):
        knn_tool.main(args[:2] + ['--pooling', 'cls'] + args[2:])


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



def _bad_layouts(root):
    """(name, make(root), message): folders that are not ImageNet-layout."""
    def missing(r):
        return r / 'absent'

    def empty(r):
        (r / 'empty').mkdir()
        return r / 'empty'

    def images_without_class_folders(r):
        for split in ('train', 'val'):
            (r / 'flat' / split).mkdir(parents=True)
            Image.new('RGB', (8, 8)).save(r / 'flat' / split / '0.jpg')
        return r / 'flat'

    def class_folders_without_images(r):
        for split in ('train', 'val'):
            for name in ('n01', 'n02'):
                (r / 'noimg' / split / name).mkdir(parents=True)
                (r / 'noimg' / split / name / 'notes.txt').write_text('x')
        return r / 'noimg'

    def only_train(r):
        write_imagenet_layout(r / 'half', per_class=1)
        for f in (r / 'half' / 'val').rglob('*'):
            if f.is_file():
                f.unlink()
        for d in sorted((r / 'half' / 'val').rglob('*'), reverse=True):
            d.rmdir()
        (r / 'half' / 'val').rmdir()
        return r / 'half'

    def other_classes(r):
        write_imagenet_layout(r / 'mismatch', per_class=1)
        (r / 'mismatch' / 'val' / 'n02').rename(r / 'mismatch' / 'val' / 'n03')
        return r / 'mismatch'

    return [
        (missing, r'--data-root {root}/absent is not a folder; expected '
                  r'{root}/absent/train/<class>/<image> and {root}/absent/val/<class>/<image>'),
        (empty, r'--data-root {root}/empty has no train/ folder \({root}/empty/train\); '
                r'expected {root}/empty/train/<class>/<image>'),
        (images_without_class_folders, r'{root}/flat/train has no class subfolders; '
                                       r'expected {root}/flat/train/<class>/<image>'),
        (class_folders_without_images, r'no image in the 2 class subfolders of '
                                       r'{root}/noimg/train; expected .*\.jpg, \.jpeg, \.png'),
        (only_train, r'--data-root {root}/half has no val/ folder'),
        (other_classes, r'train/ and val/ need the same class subfolders \(2 vs 2; in one '
                        r'only: n02, n03\)'),
    ]


@pytest.mark.parametrize('index', range(6), ids=[
    'missing', 'empty', 'images_without_class_folders', 'class_folders_without_images',
    'no_val_split', 'different_classes'])
def test_bad_data_root_fails_before_the_model_is_built_naming_folder_and_layout(
        knn_tool, tmp_path, monkeypatch, index):
    def no_build(*args, **kwargs):
        raise AssertionError('the model was built before --data-root was checked')

    monkeypatch.setattr(knn_tool.MODELS, 'build', no_build)
    make, message = _bad_layouts(tmp_path)[index]
    data_root = make(tmp_path)
    with pytest.raises(SystemExit, match=message.format(root=re.escape(str(tmp_path)))):
        knn_tool.main([str(REPO_ROOT / PRETRAIN), '--data-root', str(data_root)])


VQKD = 'configs/vqkd/vqkd_vit-tiny-p4_1xb64-randteacher-20e_digits.py'


def test_a_vqkd_checkpoint_is_evaluated_through_its_tokenizer_encoder(knn_tool, tmp_path):
    model = _save_model_checkpoint(knn_tool, str(REPO_ROOT / VQKD), tmp_path / 'vqkd.pth')
    root = write_imagenet_layout(tmp_path / 'imagenet')
    result = knn_tool.main([str(REPO_ROOT / VQKD), str(tmp_path / 'vqkd.pth'), '--data-root',
                            str(root), '--k', '3', '--batch-size', '4', '--num-workers', '0'])
    assert result['bank'] == 6 and result['top1'] == 100.0
    with torch.no_grad():  # the checkpoint's encoder was read: a changed one fails to load
        model.tokenizer.encoder.patch_embed.proj.weight.zero_()
    wrapped, prefix = knn_tool.evaluated_model(model)
    assert prefix == 'tokenizer.encoder.' and wrapped.backbone is model.tokenizer.encoder
    knn_tool.load_backbone_and_neck(wrapped, str(tmp_path / 'vqkd.pth'), 'backbone', prefix)
    assert wrapped.backbone.patch_embed.proj.weight.abs().sum() > 0


def test_a_checkpoint_of_another_vit_size_is_an_arch_mismatch(knn_tool, tmp_path):
    from mmbeit.models.backbones import ArchMismatchError

    model = _save_model_checkpoint(knn_tool, str(REPO_ROOT / PRETRAIN), tmp_path / 'a.pth')
    state = {f'backbone.{k}': v for k, v in model.backbone.state_dict().items()
             if not k.startswith('blocks.') or k.startswith('blocks.0.')}  # 1 block
    torch.save({'state_dict': state}, tmp_path / 'shallow.pth')
    root = write_imagenet_layout(tmp_path / 'imagenet')
    with pytest.raises(ArchMismatchError, match=r'num_layers 1 \(backbone \d+\)'):
        knn_tool.main([str(REPO_ROOT / PRETRAIN), str(tmp_path / 'shallow.pth'), '--data-root',
                       str(root), '--num-workers', '0'])
