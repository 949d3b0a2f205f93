"""Shared fixtures: the embedded digits data, and the repository root as working directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# test modules import mmpretrain.models directly, before any mmbeit package would guard it
import mmbeit.utils.compat  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session', autouse=True)
def _repo_cwd():
    """Configs name paths relative to the repository root (``data/digits``)."""
    old = os.getcwd()
    os.chdir(REPO_ROOT)
    yield
    os.chdir(old)


@pytest.fixture(scope='session')
def digits_root() -> Path:
    """The embedded digits folder at ``data/digits`` (generated on first use)."""
    from mmbeit.datasets import build_digits_folder

    return build_digits_folder(REPO_ROOT / 'data' / 'digits')
