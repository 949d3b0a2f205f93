"""tools/train.py under torchrun with 2 CPU processes (gloo): both ranks train the same weights."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.dist_utils import free_port
from tests.tiny_cls_config import write_tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.dist]


def test_torchrun_two_ranks_train_identical_weights(tmp_path, digits_root):
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=4, ckpt_every=4,
                            extra_hooks="[dict(type='DumpRankWeightsHook')]")
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(free_port()), 'tools/train.py', cfg, '--launcher', 'pytorch',
           '--work-dir', str(tmp_path / 'work')]
    out = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'Distributed launcher: pytorch' in log or 'world_size: 2' in log.replace('\n', ' ')
    r0 = torch.load(tmp_path / 'work' / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'work' / 'rank1.pth', weights_only=True)
    init = torch.load(tmp_path / 'work' / 'iter_4.pth', weights_only=False)['state_dict']
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f'{k} differs between ranks'
    assert all(torch.equal(r0[k], init[k]) for k in r0)
