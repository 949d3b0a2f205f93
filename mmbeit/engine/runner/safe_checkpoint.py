"""Weights-only checkpoint loading that still reads MMEngine's own checkpoints.

torch >= 2.6 unpickles with ``weights_only=True`` by default, which refuses MMEngine's resume
state (``HistoryBuffer`` objects and numpy arrays in the message hub). Instead of switching the
protection off, mmbeit allow-lists exactly the types MMEngine checkpoints contain and routes every
local MMEngine load (``load_from``, ``--resume``, ``init_cfg=dict(type='Pretrained')``) through
``torch.load(..., weights_only=True)``. Anything else that a file tries to import while being
unpickled (e.g. ``os.system``) is refused with :class:`UnsafeCheckpointError`, naming it.
"""
from __future__ import annotations

import os.path as osp
import pickle
import re
from typing import Any, Iterable, List, Optional

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles a global that is not on mmbeit's weights-only allow-list."""


def _numpy_globals() -> List[Any]:
    try:  # numpy >= 1.25 moved the private pickling helpers
        from numpy.core import multiarray
    except ImportError:  # pragma: no cover
        from numpy._core import multiarray
    dtypes = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
              np.uint64, np.float16, np.float32, np.float64]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *dtypes, *{type(np.dtype(t)) for t in dtypes}]


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling.

    ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``;
    a general ``getattr`` would let a file reach any attribute of any allowed object, so only
    the buffer's registered statistics methods are handed out.
    """
    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return HistoryBuffer._statistics_methods[name]
    raise UnsafeCheckpointError(f'checkpoint asks for getattr({obj!r}, {name!r}); only '
                                'HistoryBuffer statistics methods are allowed')


def mmengine_safe_globals() -> List[Any]:
    """Every non-tensor type an MMEngine checkpoint (meta, message hub, schedulers) pickles."""
    HistoryBuffer()  # registers the default statistics methods (min / max / current / mean)
    return [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')]


SAFE_WAY_OUT = (
    'Safe way out: convert an official release with tools/model_converters/ (unilm2mmbeit.py, '
    'mocov32mmbeit.py, mmpretrain2mmbeit.py, extract_backbone.py), which write a plain state '
    'dict; re-save a file of your own as tensors only, torch.save({"state_dict": '
    'model.state_dict()}, PATH), where it was written.')


def _allowed_names(extra: Iterable[Any] = ()) -> set:
    names = set()
    for g in [*mmengine_safe_globals(), *extra]:
        names.add(g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}')
    return names


def safe_torch_load(filename: str, map_location: Optional[Any] = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` and the MMEngine allow-list.

    Raises:
        UnsafeCheckpointError: the file pickles a global outside the allow-list; the message
            names it (e.g. ``posix.system``).
    """
    try:
        with torch.serialization.safe_globals(mmengine_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise unsafe_checkpoint_error(filename, err) from err


def unsafe_checkpoint_error(filename: str, err: BaseException,
                            allowed: Iterable[Any] = ()) -> UnsafeCheckpointError:
    """One message for a refused file: the file, the offending global, the safe way out.

    Args:
        filename (str): the checkpoint that failed to unpickle weights-only.
        err (BaseException): what ``torch.load(..., weights_only=True)`` raised.
        allowed (Iterable): extra globals the caller allowed (not reported as offending).
    """
    inner = err
    while inner is not None:  # our own refusal (restricted getattr) raised inside torch
        if isinstance(inner, UnsafeCheckpointError):
            return UnsafeCheckpointError(f'refused to load {filename}: {inner}. {SAFE_WAY_OUT}')
        inner = inner.__cause__ or inner.__context__
    offending: List[str] = []
    try:  # zip checkpoints (torch.save since 1.6) list their globals without unpickling
        names = _allowed_names(allowed)
        offending = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(filename)
                     if g not in names]
    except Exception:  # legacy torch.save format or a raw pickle: read torch's message
        pass
    text = str(err)
    if not offending:
        offending = re.findall(r'GLOBAL (\S+) was not an allowed global', text)
    if offending:
        what = 'the global ' + ', '.join(dict.fromkeys(offending))
    else:
        operand = re.search(r'Unsupported operand (\d+)', text)
        what = (f'pickle instruction {operand.group(1)} (not a torch.save checkpoint)'
                if operand else 'an object that weights-only unpickling cannot read')
    return UnsafeCheckpointError(
        f'refused to load {filename}: it pickles {what}, which is neither a tensor, a plain '
        'container nor MMEngine training state, and unpickling it could run code. '
        + SAFE_WAY_OUT)


def load_from_local_safely(filename: str, map_location: Optional[Any] = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for local paths (replaces the unsafe default)."""
    if not str(filename).strip():
        raise FileNotFoundError(
            'no checkpoint path given (the config leaves it empty). The transfer configs load '
            'the backbone from --cfg-options model.backbone.init_cfg.checkpoint=PATH; make '
            'PATH with tools/model_converters/extract_backbone.py (see docs/transfer.md)')
    filename = osp.expanduser(filename)
    if osp.isdir(filename):
        raise IsADirectoryError(f'checkpoint {filename} is a folder; name a .pth file in it')
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    return safe_torch_load(filename, map_location)


def register_safe_checkpoint_loader() -> None:
    """Route MMEngine's local checkpoint loading through :func:`load_from_local_safely`."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
