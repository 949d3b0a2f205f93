"""Reading release checkpoints and writing converted ones (weights-only unpickling)."""
from __future__ import annotations

import argparse
import os
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from mmbeit.engine.runner.safe_checkpoint import mmengine_safe_globals

STATE_DICT_KEYS = ('state_dict', 'model', 'module')


def load_checkpoint_file(path: str) -> dict:
    """``torch.load`` a checkpoint with ``weights_only=True``.

    Besides tensors and MMEngine training state, ``argparse.Namespace`` (the ``args`` entry of
    unilm / moco-v3 checkpoints) is allowed; anything else that a file would import is refused.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    with torch.serialization.safe_globals([argparse.Namespace, *mmengine_safe_globals()]):
        return torch.load(path, map_location='cpu', weights_only=True)


def get_state_dict(checkpoint: dict, keys: Sequence[str] = STATE_DICT_KEYS
                   ) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint: under the first of ``keys`` present, else the dict itself."""
    if not isinstance(checkpoint, dict):
        raise TypeError(f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    for key in keys:
        if key in checkpoint and isinstance(checkpoint[key], dict):
            return checkpoint[key]
    if all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    raise KeyError(f'no state dict under {list(keys)} in a checkpoint with keys '
                   f'{sorted(checkpoint)[:10]}')


def save_state_dict(state_dict: Dict[str, torch.Tensor], path: str,
                    meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` (what MMEngine's loaders read)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    out = OrderedDict((k, v.detach().cpu().contiguous()) for k, v in state_dict.items())
    torch.save(dict(state_dict=out, meta=dict(meta or {})), path)


def add_prefix(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    """Prepend ``prefix`` (e.g. ``'backbone.'``) to every key."""
    return OrderedDict((prefix + k, v) for k, v in state_dict.items())
