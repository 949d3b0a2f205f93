"""One run per work dir: a second run is refused naming the holder's PID; a dead holder's lock
is taken over, saying so; the lock goes when the run ends (also through tools/train.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mmbeit.engine.runner.work_dir_lock import LOCK_NAME, WorkDirLockedError, work_dir_lock
from tests.conftest import REPO_ROOT
from tests.tiny_cls_config import write_tiny_config


def test_a_second_holder_is_refused_naming_the_pid_and_the_lock_is_released(tmp_path):
    with work_dir_lock(str(tmp_path)) as path:
        assert open(path).read().split()[0] == str(os.getpid())
        with pytest.raises(WorkDirLockedError, match=f'in use by the run of PID {os.getpid()}'):
            with work_dir_lock(str(tmp_path)):
                pass
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_dead_holders_lock_is_taken_over_saying_so(tmp_path):
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    import socket
    (tmp_path / LOCK_NAME).write_text(f'{dead.pid} {socket.gethostname()}\n')
    lines = []
    with work_dir_lock(str(tmp_path), lines.append):
        assert 'is gone; taking it' in lines[0] and str(dead.pid) in lines[0]


def test_train_py_refuses_a_work_dir_held_by_a_live_run(tmp_path, digits_root):
    cfg = write_tiny_config(tmp_path / 'cfg.py', REPO_ROOT, digits_root, iters=2)
    run = tmp_path / 'run'
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    with work_dir_lock(str(run)):  # this test process plays the other run
        out = subprocess.run([sys.executable, 'tools/train.py', cfg, '--work-dir', str(run)],
                             cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    assert out.returncode != 0 and f'PID {os.getpid()}' in out.stderr
    assert not list(run.glob('iter_*.pth'))
