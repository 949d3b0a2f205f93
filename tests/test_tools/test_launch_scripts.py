"""tools/dist_train.sh, dist_test.sh, slurm_train.sh run the environment's interpreter."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import REPO_ROOT

SCRIPTS = ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh')


def _resolved_python(**env) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'VIRTUAL_ENV')}
    out = subprocess.run(['bash', '-c', '. tools/find_python.sh; echo "$PYTHON"'],
                         cwd=REPO_ROOT, env=dict(base, **env), capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.mark.parametrize('script', SCRIPTS)
def test_launch_script_runs_the_resolved_interpreter_not_plain_python(script):
    # the interpreter actually run is pinned by the *_cli tests below (a fake $PYTHON)
    text = (REPO_ROOT / 'tools' / script).read_text()
    assert '. "$(dirname "$0")/find_python.sh"' in text
    shared = (REPO_ROOT / 'tools' / 'find_python.sh').read_text()
    assert '"$PYTHON" ' in text + shared
    assert not any(line.lstrip().startswith('python ')
                   for line in (text + shared).splitlines())


def test_python_override_then_active_venv_then_repo_venv(tmp_path):
    assert _resolved_python(PYTHON='/opt/my/python') == '/opt/my/python'
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    (venv / 'bin' / 'python').write_text('#!/bin/sh\n')
    (venv / 'bin' / 'python').chmod(0o755)
    assert _resolved_python(VIRTUAL_ENV=str(venv)) == str(venv / 'bin' / 'python')
    repo_venv = REPO_ROOT / '.venv' / 'bin' / 'python'
    if repo_venv.exists():
        assert _resolved_python() == str(repo_venv)
    else:
        assert _resolved_python().endswith(('python', 'python3'))


# The command-line interface of the launchers, pinned by running them against a fake
# interpreter / srun that records its argv (OpenMMLab's: CONFIG GPUS [args], NNODES,
# NODE_RANK, PORT, MASTER_ADDR; slurm: PARTITION JOB_NAME CONFIG WORK_DIR [args], GPUS,
# GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS).
RECORDER = '#!/bin/sh\n{ echo "PYTHONPATH=$PYTHONPATH"; for a in "$@"; do echo "$a"; done; }' \
           ' > "$RECORD"\n'


def _launch(tmp_path, script, *args, **env):
    fake = tmp_path / 'fake'
    fake.mkdir(exist_ok=True)
    for name in ('python', 'srun'):
        (fake / name).write_text(RECORDER)
        (fake / name).chmod(0o755)
    record = tmp_path / 'argv.txt'
    base = {k: v for k, v in os.environ.items()
            if k not in ('NNODES', 'NODE_RANK', 'PORT', 'MASTER_ADDR', 'GPUS', 'GPUS_PER_NODE',
                         'CPUS_PER_TASK', 'SRUN_ARGS')}
    env = dict(base, PYTHON=str(fake / 'python'), RECORD=str(record),
               PATH=f'{fake}{os.pathsep}{base["PATH"]}', **env)
    subprocess.run(['bash', f'tools/{script}', *args], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True, text=True)
    pythonpath, *argv = record.read_text().splitlines()
    assert pythonpath.split('=', 1)[1].split(os.pathsep)[0] == str(REPO_ROOT)
    return argv


def _torchrun_argv(nproc, nnodes='1', node_rank='0', addr='127.0.0.1', port='29500'):
    return ['-m', 'torch.distributed.run', f'--nnodes={nnodes}', f'--node_rank={node_rank}',
            f'--master_addr={addr}', f'--nproc_per_node={nproc}', f'--master_port={port}']


def test_dist_train_sh_cli(tmp_path):
    tool = str(REPO_ROOT / 'tools' / 'train.py')
    assert _launch(tmp_path, 'dist_train.sh', 'cfg.py', '2') == [
        *_torchrun_argv('2'), tool, 'cfg.py', '--launcher', 'pytorch']
    argv = _launch(tmp_path, 'dist_train.sh', 'cfg.py', '8', '--work-dir', 'w', '--cfg-options',
                   'a=1', 'b=x y', NNODES='2', NODE_RANK='1', PORT='1234',
                   MASTER_ADDR='10.0.0.1')
    assert argv == [*_torchrun_argv('8', '2', '1', '10.0.0.1', '1234'), tool, 'cfg.py',
                    '--launcher', 'pytorch', '--work-dir', 'w', '--cfg-options', 'a=1', 'b=x y']


def test_dist_test_sh_cli(tmp_path):
    tool = str(REPO_ROOT / 'tools' / 'test.py')
    assert _launch(tmp_path, 'dist_test.sh', 'cfg.py', 'ckpt.pth', '2') == [
        *_torchrun_argv('2'), tool, 'cfg.py', 'ckpt.pth', '--launcher', 'pytorch']
    argv = _launch(tmp_path, 'dist_test.sh', 'cfg.py', 'ckpt.pth', '4', '--out', 'r.pkl',
                   NNODES='3', NODE_RANK='2', PORT='2345', MASTER_ADDR='host')
    assert argv == [*_torchrun_argv('4', '3', '2', 'host', '2345'), tool, 'cfg.py', 'ckpt.pth',
                    '--launcher', 'pytorch', '--out', 'r.pkl']


def test_slurm_train_sh_cli(tmp_path):
    python, tool = str(tmp_path / 'fake' / 'python'), str(REPO_ROOT / 'tools' / 'train.py')
    srun = ['--kill-on-bad-exit=1']
    assert _launch(tmp_path, 'slurm_train.sh', 'part', 'job', 'cfg.py', 'wd') == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8',
        '--cpus-per-task=5', *srun, python, '-u', tool, 'cfg.py', '--work-dir=wd',
        '--launcher=slurm']
    argv = _launch(tmp_path, 'slurm_train.sh', 'part', 'job', 'cfg.py', 'wd', '--amp',
                   '--cfg-options', 'a=1', GPUS='16', GPUS_PER_NODE='4', CPUS_PER_TASK='2',
                   SRUN_ARGS='--quotatype=auto --time=1')
    assert argv == ['-p', 'part', '--job-name=job', '--gres=gpu:4', '--ntasks=16',
                    '--ntasks-per-node=4', '--cpus-per-task=2', *srun, '--quotatype=auto',
                    '--time=1', python, '-u', tool, 'cfg.py', '--work-dir=wd',
                    '--launcher=slurm', '--amp', '--cfg-options', 'a=1']
