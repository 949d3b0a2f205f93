"""mmpretrain 1.2 next to transformers 5 (which mmbeit's HF interop tests and users install).

mmpretrain 1.2 builds its multimodal models (BLIP, LLaVA, Flamingo, ...) whenever
``transformers >= 4.28`` and pycocotools are installed, through imports that transformers 5
removed (``apply_chunking_to_forward`` from ``modeling_utils``, ...): ``import
mmpretrain.models`` then fails with ``TypeError: NoneType takes no arguments``. mmbeit uses none
of those models, so with transformers >= 5 it lets mmpretrain register its own placeholders for
them (as it does when transformers is absent): building one raises mmpretrain's "requires extra
multi-modal dependencies" error.

Importing this module applies the guard; every mmbeit package that imports mmpretrain imports
it first.
"""
from __future__ import annotations

import sys
from importlib import metadata


def transformers_major() -> int:
    """The installed transformers' major version, 0 when it is not installed."""
    try:
        return int(metadata.version('transformers').split('.')[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


def guard_mmpretrain_multimodal() -> bool:
    """Before mmpretrain's models / datasets are imported: with transformers >= 5, mark
    mmpretrain's multimodal extras unavailable. Returns whether it did."""
    if transformers_major() < 5 or 'mmpretrain.models' in sys.modules:
        return False
    from mmpretrain.utils import dependency

    dependency.WITH_MULTIMODAL = False
    return True


guard_mmpretrain_multimodal()
