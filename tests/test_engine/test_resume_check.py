"""``--resume`` refuses a checkpoint of another model or optimizer, naming what changed, before
anything is loaded; ``load_from`` without ``--resume`` still takes its weights."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmbeit.engine.runner.resume_check import ResumeMismatchError, check_resume
from tests.conftest import REPO_ROOT
from tests.tiny_cls_config import write_tiny_config


def _trained(width: int = 8, optimizer=torch.optim.AdamW):
    model = nn.Sequential(nn.Linear(4, width), nn.Linear(width, 2))
    wrapper = OptimWrapper(optimizer=optimizer(model.parameters(), lr=0.1))
    wrapper.update_params(model(torch.randn(3, 4)).square().mean())
    return model, wrapper, dict(state_dict=model.state_dict(), optimizer=wrapper.state_dict())


def test_the_same_model_and_optimizer_resume():
    model, wrapper, checkpoint = _trained()
    check_resume(model, wrapper, checkpoint)


def test_a_changed_width_is_refused_naming_the_keys_and_shapes():
    _, _, checkpoint = _trained(width=8)
    model, wrapper, _ = _trained(width=16)
    with pytest.raises(ResumeMismatchError, match=r'(?s)0\.weight \(8, 4\) in the checkpoint, '
                       r'\(16, 4\) in the config.*load_from=PATH \(without --resume\)'):
        check_resume(model, wrapper, checkpoint, source='ck.pth')


def test_a_changed_depth_or_optimizer_is_refused_naming_it():
    _, _, checkpoint = _trained()
    deeper = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2), nn.Linear(2, 2))
    with pytest.raises(ResumeMismatchError, match=r'model keys the checkpoint lacks: 2\.weight'):
        check_resume(deeper, None, checkpoint)
    model, sgd, _ = _trained(optimizer=lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9))
    with pytest.raises(ResumeMismatchError, match=r"(?s)optimizer differs: .*'betas'.*SGD lacks"):
        check_resume(model, sgd, checkpoint)


def test_changed_parameter_groups_and_state_shapes_are_refused():
    model, wrapper, checkpoint = _trained()
    two_groups = OptimWrapper(optimizer=torch.optim.AdamW(
        [dict(params=model[0].parameters()), dict(params=model[1].parameters())], lr=0.1))
    with pytest.raises(ResumeMismatchError, match=r'\[4\] parameters per group in the '
                       r'checkpoint, \[2, 2\] in the config'):
        check_resume(model, two_groups, checkpoint)
    swapped = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    state = checkpoint['optimizer']['state']
    state[0], state[2] = state[2], state[0]  # exp_avg of (2, 8) where (8, 4) is
    with pytest.raises(ResumeMismatchError, match=r'optimizer state shapes differ: parameter '
                       r'0 \w+ \(2, 8\) in the checkpoint, \(8, 4\) in the config'):
        check_resume(swapped, OptimWrapper(optimizer=torch.optim.AdamW(
            swapped.parameters(), lr=0.1)), checkpoint)


def _train(config: str, work_dir, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir',
                           str(work_dir), *extra], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_train_py_refuses_to_resume_a_changed_head_and_loads_its_weights_with_load_from(
        tmp_path, digits_root):
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=2, ckpt_every=2)
    run = tmp_path / 'run'
    assert _train(cfg, run).returncode == 0
    wider = ('model.head.in_channels=48', 'model.backbone.arch.embed_dims=48')
    out = _train(cfg, run, '--resume', '--cfg-options', *wider)
    assert out.returncode != 0
    assert 'ResumeMismatchError' in out.stderr
    assert 'backbone.cls_token (1, 1, 32) in the checkpoint, (1, 1, 48) in the config' \
        in out.stderr
    head = _train(cfg, tmp_path / 'new', '--cfg-options', f'load_from={run}/iter_2.pth',
                  'model.head.num_classes=12')
    assert head.returncode == 0, head.stderr[-3000:]
