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
from typing import Any, List, Optional

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


def _allowed_names() -> set:
    names = set()
    for g in mmengine_safe_globals():
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
        inner = err
        while inner is not None:  # our own refusal (restricted getattr) raised inside torch
            if isinstance(inner, UnsafeCheckpointError):
                raise UnsafeCheckpointError(f'refused to load {filename}: {inner}') from err
            inner = inner.__cause__ or inner.__context__
        offending = []
        try:
            allowed = _allowed_names()
            offending = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(filename)
                         if g not in allowed]
        except Exception:  # not a zip checkpoint: fall back to torch's own message
            pass
        what = ', '.join(offending) if offending else str(err).splitlines()[0]
        raise UnsafeCheckpointError(
            f'refused to load {filename}: it pickles {what}, which is neither a tensor, a plain '
            'container nor MMEngine training state. Unpickling it could run arbitrary code. '
            'Re-save the weights as a plain state dict, or, if you trust the class, allow it '
            'explicitly with torch.serialization.add_safe_globals([...]).') from err


def load_from_local_safely(filename: str, map_location: Optional[Any] = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for local paths (replaces the unsafe default)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    return safe_torch_load(filename, map_location)


def register_safe_checkpoint_loader() -> None:
    """Route MMEngine's local checkpoint loading through :func:`load_from_local_safely`."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safely, force=True)
