"""tools/test.py: ``--out FILE`` holds the per-sample predictions; the metrics are returned,
printed and logged (not written to FILE)."""
from __future__ import annotations

import pickle

import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.test_tools.tool_module import load_tool
from tests.tiny_cls_config import write_tiny_config

EVAL_PART = """
val_dataloader = dict(
    batch_size=5, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DigitsDataset', data_root='{data_root}', split='val', indices={n},
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='Resize', scale=(16, 16)),
                           dict(type='PackInputs')]))
val_evaluator = dict(type='Accuracy', topk=(1, ))
val_cfg = dict()
test_dataloader = val_dataloader
test_evaluator = val_evaluator
test_cfg = dict()
"""
NUM_SAMPLES = 12


def write_eval_config(tmp_path, digits_root):
    """The tiny classifier config with a 12-image digits test split, and a checkpoint of it."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmbeit.registry import MODELS

    cfg_path = tmp_path / 'cfg.py'
    write_tiny_config(cfg_path, REPO_ROOT, digits_root)
    with open(cfg_path, 'a') as f:
        f.write(EVAL_PART.format(data_root=digits_root, n=NUM_SAMPLES))
    init_default_scope('mmbeit')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return str(cfg_path), str(ckpt)


def check_predictions_file(path, metrics):
    """FILE is a list of per-sample prediction dicts (DumpResults), consistent with metrics."""
    with open(path, 'rb') as f:
        results = pickle.load(f)
    assert isinstance(results, list) and len(results) == NUM_SAMPLES
    assert all({'pred_label', 'gt_label', 'pred_score'} <= set(r) for r in results)
    assert not any(k in r for r in results for k in metrics)  # no metrics in the file
    correct = sum(int(r['pred_label'].item() == r['gt_label'].item()) for r in results)
    assert metrics['accuracy/top1'] == pytest.approx(100.0 * correct / NUM_SAMPLES, abs=1e-3)


@pytest.fixture(scope='module')
def test_tool():
    return load_tool('tools/test.py')


def test_out_help_says_it_holds_predictions_not_metrics(test_tool, capsys):
    with pytest.raises(SystemExit):
        test_tool.parse_args(['--help'])
    options = ' '.join(capsys.readouterr().out.split()).split('options:', 1)[1]
    out_help = options[options.index('--out OUT'):options.index('--amp')]
    assert 'per-sample predictions' in out_help
    assert 'metrics are printed and logged' in out_help


def test_out_writes_per_sample_predictions_and_main_returns_the_metrics(test_tool, tmp_path,
                                                                         digits_root):
    cfg, ckpt = write_eval_config(tmp_path, digits_root)
    out = tmp_path / 'results.pkl'
    metrics = test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path / 'work'), '--out',
                              str(out)])
    assert set(metrics) == {'accuracy/top1'}
    check_predictions_file(out, metrics)
    # without --out: the same metrics, no file
    again = test_tool.main([cfg, ckpt, '--work-dir', str(tmp_path / 'work2')])
    assert again == metrics
