"""tools/train.py: a run killed after iteration k and resumed ends bit-identical."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.tiny_cls_config import write_tiny_config

pytestmark = pytest.mark.slow


def _train(config: str, work_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir',
                           str(work_dir), *extra], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _weights(path: Path) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.parametrize('workers', [0, 1])
def test_killed_run_resumes_bit_identical(tmp_path, digits_root, workers):
    full = write_tiny_config(tmp_path / 'full.py', REPO_ROOT, digits_root, workers=workers)
    ref = _train(full, tmp_path / 'ref')
    assert ref.returncode == 0, ref.stderr[-3000:]

    killed_cfg = write_tiny_config(tmp_path / 'killed.py', REPO_ROOT, digits_root,
                                   workers=workers,
                                   extra_hooks="[dict(type='KillAtIterHook', kill_at=6)]")
    killed = _train(killed_cfg, tmp_path / 'run')
    assert killed.returncode == -9, 'the run was expected to be killed at iteration 6'
    assert (tmp_path / 'run' / 'iter_4.pth').exists()
    assert not (tmp_path / 'run' / 'iter_8.pth').exists()

    resumed = _train(full, tmp_path / 'run', '--resume')  # latest checkpoint: iter_4
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'Advance dataloader 4 steps' in resumed.stdout + resumed.stderr

    a, b = _weights(tmp_path / 'ref' / 'iter_8.pth'), _weights(tmp_path / 'run' / 'iter_8.pth')
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f'{k} differs after resume'


def test_resume_without_random_states_differs(tmp_path, digits_root):
    """Control: the same kill / resume without RandomStateHook does NOT replay exactly."""
    full = write_tiny_config(tmp_path / 'full.py', REPO_ROOT, digits_root)
    text = Path(full).read_text().replace("[dict(type='RandomStateHook')] + ", '')
    Path(full).write_text(text)
    killed_cfg = tmp_path / 'killed.py'
    killed_cfg.write_text(text.replace(
        'custom_hooks = []', "custom_hooks = [dict(type='KillAtIterHook', kill_at=6)]"))
    assert _train(full, tmp_path / 'ref').returncode == 0
    assert _train(str(killed_cfg), tmp_path / 'run').returncode == -9
    assert _train(full, tmp_path / 'run', '--resume').returncode == 0
    a, b = _weights(tmp_path / 'ref' / 'iter_8.pth'), _weights(tmp_path / 'run' / 'iter_8.pth')
    assert any(not torch.equal(a[k], b[k]) for k in a)
