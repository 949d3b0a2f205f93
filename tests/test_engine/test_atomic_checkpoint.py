"""Checkpoints are never lost: atomic writes that delete old checkpoints last
(AtomicCheckpointHook, mmbeit's ``CheckpointHook``), and ``--resume`` takes the newest intact
checkpoint. Real ``tools/train.py`` runs are killed mid-write or hit a full disk."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmbeit.engine.runner.resume import newest_intact_checkpoint
from mmbeit.utils.checkpoint import CheckpointError
from tests.conftest import REPO_ROOT
from tests.tiny_cls_config import write_tiny_config


def _train(config: str, work_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir',
                           str(work_dir), *extra], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _weights(path: Path) -> dict:
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.mark.slow
def test_a_kill_mid_write_with_max_keep_1_loses_nothing_and_resumes_exactly(tmp_path,
                                                                           digits_root):
    """MMEngine's hook deletes iter_4 before writing iter_8 under its final name: this kill
    would leave no loadable checkpoint. Here iter_4 survives and the resumed run is exact."""
    full = write_tiny_config(tmp_path / 'full.py', REPO_ROOT, digits_root, iters=12,
                             max_keep=1)
    ref = _train(full, tmp_path / 'ref')
    assert ref.returncode == 0, ref.stderr[-3000:]
    killed_cfg = write_tiny_config(
        tmp_path / 'killed.py', REPO_ROOT, digits_root, iters=12, max_keep=1,
        extra_hooks="[dict(type='FailSaveHook', at_save=2, mode='kill')]")
    run = tmp_path / 'run'
    assert _train(killed_cfg, run).returncode == -9
    assert (run / 'iter_4.pth').is_file() and not (run / 'iter_8.pth').exists()
    assert (run / 'last_checkpoint').read_text() == str(run / 'iter_4.pth')
    resumed = _train(full, run, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = _weights(tmp_path / 'ref' / 'iter_12.pth'), _weights(run / 'iter_12.pth')
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in run.glob('iter_*.pth')) == ['iter_12.pth']  # max_keep 1
    assert not list(run.glob('.*.partial'))


@pytest.mark.slow
def test_a_full_disk_stops_the_run_saying_where_and_keeps_the_last_checkpoint(tmp_path,
                                                                              digits_root):
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=12, max_keep=1,
                            extra_hooks="[dict(type='FailSaveHook', at_save=2, mode='enospc')]")
    run = tmp_path / 'run'
    out = _train(cfg, run)
    assert out.returncode != 0
    logs = ''.join(Path(p).read_text() for p in glob.glob(str(run / '*' / '*.log')))
    assert f'cannot write a checkpoint in {run}' in logs and 'MiB free' in logs
    assert 'the previous checkpoint took' in logs
    assert (run / 'iter_4.pth').is_file() and not list(run.glob('.*.partial'))
    assert (run / 'last_checkpoint').read_text() == str(run / 'iter_4.pth')


def _save(path: Path, value: float) -> None:
    torch.save(dict(state_dict=dict(w=torch.full((2,), value)), meta=dict()), path)


def test_resume_takes_the_newest_intact_checkpoint_naming_the_damaged_ones(tmp_path):
    _save(tmp_path / 'iter_4.pth', 4.0)
    (tmp_path / 'iter_8.pth').write_bytes(b'')  # zero bytes
    (tmp_path / 'iter_12.pth').write_bytes(os.urandom(4096))  # random bytes
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_12.pth'))
    lines = []
    assert newest_intact_checkpoint(str(tmp_path), lines.append) == str(tmp_path / 'iter_4.pth')
    assert 'iter_12.pth (4096 bytes): damaged' in lines[0]
    assert 'iter_8.pth (0 bytes): damaged' in lines[1]
    assert lines[-1].endswith('iter_4.pth, the newest intact checkpoint')


def test_resume_with_only_damaged_checkpoints_stops_and_a_fresh_dir_starts(tmp_path):
    (tmp_path / 'iter_4.pth').write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match=r'no checkpoint in .* can be read'):
        newest_intact_checkpoint(str(tmp_path), print)
    lines = []
    assert newest_intact_checkpoint(str(tmp_path / 'fresh'), lines.append) is None
    assert 'starting from scratch' in lines[0]


@pytest.mark.slow
def test_a_diverging_run_stops_naming_the_iteration_and_keeps_finite_checkpoints(tmp_path,
                                                                                digits_root):
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=40,
                            ckpt_every=2, max_keep=1)
    run = tmp_path / 'run'
    out = _train(cfg, run, '--cfg-options', 'optim_wrapper.optimizer.lr=1e12')
    assert out.returncode != 0
    assert ('training diverged: the loss or gradients were not finite for 3 iterations in a '
            'row') in out.stderr
    assert 'The last good checkpoint is' in out.stderr
    for path in run.glob('iter_*.pth'):  # whatever was kept is finite
        assert all(torch.isfinite(t).all() for t in _weights(path).values()
                   if t.is_floating_point())


def test_nonfinite_terms_and_weights_are_found_by_name():
    from mmbeit.engine.hooks.atomic_checkpoint_hook import nonfinite_terms, nonfinite_weights
    assert nonfinite_terms(dict(loss=torch.tensor(float('nan')), loss_mim=torch.tensor(1.0),
                                acc=torch.tensor(float('inf')))).keys() == {'loss'}
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    assert nonfinite_weights(model) == []
    with torch.no_grad():
        model[0].bias[1] = float('inf')
    assert nonfinite_weights(model) == ['0.bias']


def test_a_mistyped_checkpoint_hook_argument_fails_at_build_naming_it():
    from mmbeit.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook

    with pytest.raises(TypeError, match=r'max_keep_ckpt \(did you mean max_keep_ckpts\?\)'):
        AtomicCheckpointHook(interval=2, max_keep_ckpt=1)
