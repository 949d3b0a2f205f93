"""Import a script under tools/ (or benchmarks/) as a module, by its path in the repository."""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from tests.conftest import REPO_ROOT


@functools.cache
def load_tool(relpath: str):
    """``tools/test.py`` -> the module (loaded once per path)."""
    spec = importlib.util.spec_from_file_location(Path(relpath).stem, REPO_ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
