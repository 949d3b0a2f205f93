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
    text = (REPO_ROOT / 'tools' / script).read_text()
    assert '. "$(dirname "$0")/find_python.sh"' in text
    assert '"$PYTHON" ' in text
    assert not any(line.lstrip().startswith('python ') for line in text.splitlines())


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
