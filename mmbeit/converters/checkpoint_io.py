"""Reading release checkpoints and writing converted ones (weights-only unpickling)."""
from __future__ import annotations

import argparse
import os
import pickle
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from mmbeit.engine.runner.safe_checkpoint import mmengine_safe_globals, unsafe_checkpoint_error

STATE_DICT_KEYS = ('state_dict', 'model', 'module')


def load_checkpoint_file(path: str) -> dict:
    """``torch.load`` a checkpoint with ``weights_only=True``.

    Besides tensors and MMEngine training state, ``argparse.Namespace`` (the ``args`` entry of
    unilm / moco-v3 checkpoints) is allowed; anything else that a file would import is refused.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    try:
        with torch.serialization.safe_globals([argparse.Namespace, *mmengine_safe_globals()]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise unsafe_checkpoint_error(path, err, allowed=[argparse.Namespace]) from err
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise RuntimeError(f'cannot read checkpoint {path}: {err}') from err


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


def arch_meta(backbone: Dict[str, torch.Tensor], num_heads: Optional[int] = None,
              prefix: str = '') -> dict:
    """``meta['arch']`` for a converted backbone (keys under ``prefix``): the shapes' numbers
    and, when known, ``num_heads`` (no shape holds it). The backbone loader checks it."""
    from mmbeit.models.backbones.pretrained import arch_from_state_dict

    arch = arch_from_state_dict(OrderedDict((k[len(prefix):], v) for k, v in backbone.items()
                                            if k.startswith(prefix)))
    if num_heads is not None:
        if arch.get('embed_dims') and arch['embed_dims'] % num_heads:
            raise ValueError(f'num_heads {num_heads} does not divide embed_dims '
                             f'{arch["embed_dims"]}')
        arch['num_heads'] = int(num_heads)
    return arch


def choose_num_heads(given: Optional[int], recorded: Optional[int], src: str) -> Optional[int]:
    """The head count to record for a converted release: ``--num-heads`` (``given``) or what
    the release itself records; a contradiction is refused, neither gives a warning."""
    if given and recorded and given != recorded:
        raise SystemExit(f'--num-heads {given}, but {src} records a model with {recorded} '
                         'heads')
    if not (given or recorded):
        print('warning: the head count is not recorded in the release; pass --num-heads so '
              'that loading into a backbone of another head count fails')
    return given or recorded
