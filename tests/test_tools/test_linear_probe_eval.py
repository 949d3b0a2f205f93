"""linear_probe_eval.py: the kNN tool's model / checkpoint / split handling with a linear
classifier on top; separable classes are learned, too few images for ``--shots`` are named."""
from __future__ import annotations

import json

import pytest

from tests.test_tools.test_knn_eval import (
    PRETRAIN,
    _child_with_missing_tokenizer_file,
    _save_model_checkpoint,
    write_imagenet_layout,
)
from tests.test_tools.tool_module import load_tool


@pytest.fixture(scope='module')
def tools():
    return (load_tool('tools/analysis_tools/knn_eval.py'),
            load_tool('tools/analysis_tools/linear_probe_eval.py'))


def test_probe_on_a_labelled_folder_with_all_labels_and_few_shots(tools, tmp_path):
    knn_tool, probe_tool = tools
    config = _child_with_missing_tokenizer_file(tmp_path)
    ckpt = tmp_path / 'epoch_1.pth'
    _save_model_checkpoint(knn_tool, config, ckpt)
    root = write_imagenet_layout(tmp_path / 'imagenet', per_class=4)
    common = [config, str(ckpt), '--data-root', str(root), '--batch-size', '4',
              '--num-workers', '0', '--epochs', '100']
    result = probe_tool.main(common + ['--out', str(tmp_path / 'probe.json')])
    assert (result['train'], result['test'], result['num_classes']) == (8, 8, 2)
    assert result['top1'] == 100.0  # two colours: linearly separable even for random features
    assert json.loads((tmp_path / 'probe.json').read_text())['top1'] == 100.0
    few = probe_tool.main(common + ['--shots', '2', '--draws', '2'])
    assert few['shots'] == 2 and few['top1'] == 100.0


def test_a_class_with_too_few_images_for_the_shots_is_named(tools, tmp_path):
    knn_tool, probe_tool = tools
    root = write_imagenet_layout(tmp_path / 'imagenet', per_class=2)
    with pytest.raises(ValueError, match='3-shot probe: class 0 has only 2'):
        probe_tool.main([PRETRAIN, '--data-root', str(root), '--batch-size', '4',
                         '--num-workers', '0', '--shots', '3'])
