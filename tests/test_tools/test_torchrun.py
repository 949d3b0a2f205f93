"""tools/train.py and tools/test.py under torchrun with 2 CPU processes (gloo), through the
README's launchers (tools/dist_train.sh, tools/dist_test.sh): both ranks train the same
weights; the test ranks' predictions are gathered into one --out file."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO_ROOT
from tests.dist_utils import free_port
from tests.tiny_cls_config import write_tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.dist]


def _launcher(script: str, *args: str) -> subprocess.CompletedProcess:
    """``bash tools/SCRIPT ARGS`` as the README writes it, this interpreter, a free port."""
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1')
    return subprocess.run(['bash', f'tools/{script}', *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_dist_train_sh_two_ranks_train_identical_weights(tmp_path, digits_root):
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=4, ckpt_every=4,
                            extra_hooks="[dict(type='DumpRankWeightsHook')]")
    out = _launcher('dist_train.sh', cfg, '2', '--work-dir', str(tmp_path / 'work'))
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'Distributed launcher: pytorch' in log or 'world_size: 2' in log.replace('\n', ' ')
    r0 = torch.load(tmp_path / 'work' / 'rank0.pth', weights_only=True)
    r1 = torch.load(tmp_path / 'work' / 'rank1.pth', weights_only=True)
    init = torch.load(tmp_path / 'work' / 'iter_4.pth', weights_only=False)['state_dict']
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f'{k} differs between ranks'
    assert all(torch.equal(r0[k], init[k]) for k in r0)


def _torchrun(cfg: str, work_dir, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(free_port()), 'tools/train.py', cfg, '--launcher', 'pytorch',
           '--work-dir', str(work_dir), *extra]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_zero_run_checkpoints_and_resumes_to_the_same_weights(tmp_path, digits_root):
    """--zero: sharded optimizer states, one consolidated checkpoint, exact resume."""
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=4, ckpt_every=2)
    full = _torchrun(cfg, tmp_path / 'full', '--zero')
    assert full.returncode == 0, full.stderr[-3000:]
    ckpt = torch.load(tmp_path / 'full' / 'iter_2.pth', weights_only=False)
    assert ckpt['optimizer']['state'], 'the consolidated optimizer state is empty'
    (tmp_path / 'run').mkdir()
    (tmp_path / 'run' / 'iter_2.pth').write_bytes((tmp_path / 'full' / 'iter_2.pth').read_bytes())
    resumed = _torchrun(cfg, tmp_path / 'run', '--zero', '--resume',
                        str(tmp_path / 'run' / 'iter_2.pth'))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(tmp_path / 'full' / 'iter_4.pth', weights_only=False)['state_dict']
    b = torch.load(tmp_path / 'run' / 'iter_4.pth', weights_only=False)['state_dict']
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f'{k} differs after resuming a --zero run'


def test_dist_test_sh_two_ranks_gather_all_predictions_into_out(tmp_path, digits_root):
    from tests.test_tools.test_test_py import check_predictions_file, write_eval_config

    cfg, ckpt = write_eval_config(tmp_path, digits_root)
    out = _launcher('dist_test.sh', cfg, ckpt, '2', '--work-dir', str(tmp_path / 'work'),
                    '--out', str(tmp_path / 'results.pkl'))
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    top1 = float(re.search(r'accuracy/top1: ([0-9.]+)', log).group(1))
    check_predictions_file(tmp_path / 'results.pkl', {'accuracy/top1': top1})


def test_fsdp_run_checkpoints_and_resumes_to_the_same_weights(tmp_path, digits_root):
    """``strategy.type=FSDPStrategy`` through tools/dist_train.sh (FlexibleRunner, clipped
    gradients): consolidated checkpoints, and an exact resume (the BEiT v2 model, its frozen
    tokenizer and one process's weights: tests/test_engine/test_fsdp_strategy.py)."""
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=4, ckpt_every=2)
    options = ['--cfg-options', 'strategy.type=FSDPStrategy',
               'optim_wrapper.clip_grad.max_norm=0.1']
    full = _launcher('dist_train.sh', cfg, '2', '--work-dir', str(tmp_path / 'full'), *options)
    assert full.returncode == 0, full.stderr[-3000:]
    (tmp_path / 'run').mkdir()
    (tmp_path / 'run' / 'iter_2.pth').write_bytes((tmp_path / 'full' / 'iter_2.pth').read_bytes())
    resumed = _launcher('dist_train.sh', cfg, '2', '--work-dir', str(tmp_path / 'run'),
                        '--resume', str(tmp_path / 'run' / 'iter_2.pth'), *options)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 2' in resumed.stdout + resumed.stderr
    a = torch.load(tmp_path / 'full' / 'iter_4.pth', weights_only=False)
    b = torch.load(tmp_path / 'run' / 'iter_4.pth', weights_only=False)
    assert a['optimizer']['state'] and a['state_dict'].keys() == b['state_dict'].keys()
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), f'{k} differs after resuming'
