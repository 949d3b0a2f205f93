"""The one way mmbeit reads and writes checkpoint files: weights-only, with one error type.

torch >= 2.6 unpickles with ``weights_only=True`` by default, which refuses MMEngine's resume
state (``HistoryBuffer`` objects and numpy arrays in the message hub). Instead of switching the
protection off, mmbeit allow-lists exactly what MMEngine checkpoints and the official releases
contain (tensors, containers, MMEngine training state, FSDP's ``ShardedTensor`` records, the
``argparse.Namespace`` that unilm / moco-v3 files keep under ``args``) and reads every file with
``torch.load(..., weights_only=True)``. Anything else a file tries to import while being
unpickled (e.g. ``os.system``) is refused, naming it.

- :func:`load_checkpoint`: every mmbeit model, converter and tool reads files through it.
- :func:`install_safe_checkpoint_loader`: routes MMEngine's own local loads (``load_from``,
  ``--resume``, ``init_cfg=dict(type='Pretrained')`` in mmpretrain / mmdet / mmseg models)
  through it. It is called in one place, ``import mmbeit.engine`` (the entry points and the
  mmdet / mmseg configs' ``custom_imports`` import it); importing other mmbeit modules does
  not touch MMEngine.
- :class:`CheckpointError`: what any failure to read a file raises (subclasses keep the
  builtin categories: :class:`CheckpointNotFoundError` is a ``FileNotFoundError``,
  :class:`UnsafeCheckpointError` a ``pickle.UnpicklingError``).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import os.path as osp
import pickle
import re
import struct
import urllib.parse
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

STATE_DICT_KEYS = ('state_dict', 'model', 'module')
# ``checkpoint=RANDOM_WEIGHTS`` on a frozen teacher / tokenizer: random weights, asked for
RANDOM_WEIGHTS = 'random'
SAFE_WAY_OUT = (
    'Safe way out: convert an official release with tools/model_converters/ (unilm2mmbeit.py, '
    'mocov32mmbeit.py, mmpretrain2mmbeit.py, extract_backbone.py), which write a plain state '
    'dict; re-save a file of your own as tensors only, torch.save({"state_dict": '
    'model.state_dict()}, PATH), where it was written.')
EMPTY_PATH_HINT = (
    'no checkpoint path given (the config leaves it empty). The transfer configs load the '
    'backbone from --cfg-options model.backbone.init_cfg.checkpoint=PATH; make PATH with '
    'tools/model_converters/extract_backbone.py (see docs/transfer.md)')


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read: the message names the file and what to do."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The path is empty, a folder, or does not exist."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
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


@functools.cache
def _sharded_tensor_globals() -> Tuple[Any, ...]:
    """The classes of an FSDP ``state_dict_cfg='local'`` checkpoint (one ``ShardedTensor``
    per parameter shard): torch's own metadata records, empty without ``torch.distributed``."""
    try:
        from torch.distributed._shard.metadata import ShardMetadata
        from torch.distributed._shard.sharded_tensor.api import ShardedTensor
        from torch.distributed._shard.sharded_tensor.metadata import (
            MEM_FORMAT_ENCODING,
            ShardedTensorMetadata,
            TensorProperties,
        )
        from torch.distributed._shard.sharded_tensor.shard import Shard
        from torch.distributed._shard.sharding_spec.api import EnumerableShardingSpec
        from torch.distributed._shard.sharding_spec.chunk_sharding_spec import (
            ChunkShardingSpec,
        )
        from torch.distributed.remote_device import _remote_device
    except ImportError:  # pragma: no cover  (torch built without distributed)
        return ()
    return (ShardedTensor, ShardedTensor.ProcessGroupState, Shard, ShardMetadata,
            ShardedTensorMetadata, TensorProperties, MEM_FORMAT_ENCODING, ChunkShardingSpec,
            EnumerableShardingSpec, _remote_device)


def _restricted_getattr(obj: Any, name: str) -> Any:
    """Stands in for ``builtins.getattr`` while unpickling.

    ``HistoryBuffer`` pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')`` and
    ``ShardedTensor`` its state record as ``getattr(ShardedTensor, 'ProcessGroupState')``; a
    general ``getattr`` would let a file reach any attribute of any allowed object, so only
    those attributes are handed out.
    """
    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return HistoryBuffer._statistics_methods[name]
    sharded = _sharded_tensor_globals()
    if name == 'ProcessGroupState' and sharded and obj is sharded[0]:  # ShardedTensor
        return obj.ProcessGroupState
    raise UnsafeCheckpointError(f'checkpoint asks for getattr({obj!r}, {name!r}); only '
                                'HistoryBuffer statistics methods and ShardedTensor.'
                                'ProcessGroupState are allowed')


def safe_globals() -> List[Any]:
    """Every non-tensor type an MMEngine checkpoint (meta, message hub, schedulers), a sharded
    FSDP checkpoint (``ShardedTensor`` records) or an official release (``args``) pickles."""
    HistoryBuffer()  # registers the default statistics methods (min / max / current / mean)
    return [HistoryBuffer, argparse.Namespace, *_numpy_globals(), *_sharded_tensor_globals(),
            (_restricted_getattr, 'builtins.getattr')]


def _allowed_names() -> set:
    names = set()
    for g in safe_globals():
        names.add(g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}')
    return names


def unsafe_checkpoint_error(filename: str, err: BaseException) -> CheckpointError:
    """One message for a refused file: the file, the offending global, the safe way out; a
    plain :class:`CheckpointError` ("damaged") when the bytes are no pickle at all.

    Args:
        filename (str): the checkpoint that failed to unpickle weights-only.
        err (BaseException): what ``torch.load(..., weights_only=True)`` raised.
    """
    inner = err
    while inner is not None:  # our own refusal (restricted getattr) raised inside torch
        if isinstance(inner, UnsafeCheckpointError):
            return UnsafeCheckpointError(f'refused to load {filename}: {inner}. {SAFE_WAY_OUT}')
        inner = inner.__cause__ or inner.__context__
    offending: List[str] = []
    try:  # zip checkpoints (torch.save since 1.6) list their globals without unpickling
        names = _allowed_names()
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
        if operand:  # not code: bytes that are no pickle at all (a damaged or foreign file)
            size = osp.getsize(filename) if osp.isfile(filename) else 0
            return CheckpointError(
                f'cannot read checkpoint {filename} ({size} bytes): damaged or not a '
                f'checkpoint (its bytes are no torch.save data: pickle opcode '
                f'{operand.group(1)})')
        what = 'an object that weights-only unpickling cannot read'
    return UnsafeCheckpointError(
        f'refused to load {filename}: it pickles {what}, which is neither a tensor, a plain '
        'container nor MMEngine training state, and unpickling it could run code. '
        + SAFE_WAY_OUT)


def check_checkpoint_path(filename: str) -> str:
    """The expanded path of an existing file, else :class:`CheckpointNotFoundError`."""
    if not str(filename).strip():
        raise CheckpointNotFoundError(EMPTY_PATH_HINT)
    filename = osp.expanduser(str(filename))
    if osp.isdir(filename):
        raise CheckpointNotFoundError(f'checkpoint {filename} is a folder; name a .pth file in '
                                      'it')
    if not osp.isfile(filename):
        raise CheckpointNotFoundError(f'checkpoint {filename} does not exist')
    return filename


def is_safetensors(filename: str) -> bool:
    """Whether ``filename`` is a safetensors file: by its suffix, or by its header (an 8-byte
    little-endian length followed by a JSON object), whatever it is called."""
    if str(filename).endswith('.safetensors'):
        return True
    try:
        with open(filename, 'rb') as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b'{':
        return False
    size = struct.unpack('<Q', head[:8])[0]
    return 2 <= size <= osp.getsize(filename) - 8


def _load_safetensors(filename: str, map_location: Optional[Any]) -> Dict[str, Any]:
    """A safetensors file as ``{'state_dict': tensors, 'meta': ...}``: ``meta`` is what
    :func:`save_state_dict` recorded (``mmbeit_meta``), else the file's string metadata."""
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError as err:  # pragma: no cover
        raise CheckpointError(f'{filename} is a safetensors file: pip install safetensors'
                              ) from err
    device = str(map_location) if isinstance(map_location, (str, torch.device)) else 'cpu'
    try:
        with safe_open(filename, framework='pt', device=device) as f:
            tensors = OrderedDict((k, f.get_tensor(k)) for k in f.keys())
            metadata = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f'cannot read checkpoint {filename} ({osp.getsize(filename)} '
                              f'bytes): damaged safetensors file ({err})') from err
    meta: Any = metadata
    if 'mmbeit_meta' in metadata:
        meta = json.loads(metadata['mmbeit_meta'])
    return dict(state_dict=tensors, meta=meta)


def load_checkpoint(filename: str, map_location: Optional[Any] = 'cpu') -> Any:
    """``torch.load(filename, weights_only=True)`` with mmbeit's allow-list; a safetensors file
    (safe by construction: tensors and strings only) is read as ``{'state_dict', 'meta'}``.

    Raises:
        CheckpointNotFoundError: empty path, a folder, or no such file.
        UnsafeCheckpointError: the file pickles a global outside the allow-list; the message
            names it (e.g. ``posix.system``) and the safe way out.
        CheckpointError: a truncated / corrupt file (the message names it).
    """
    filename = check_checkpoint_path(filename)
    if is_safetensors(filename):
        return _load_safetensors(filename, map_location)
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise unsafe_checkpoint_error(filename, err) from err
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
            AttributeError, struct.error) as err:  # what truncated / foreign bytes raise
        size = osp.getsize(filename)
        reason = 'the file is empty' if size == 0 else f'{type(err).__name__}: {err}'
        raise CheckpointError(f'cannot read checkpoint {filename} ({size} bytes): damaged or '
                              f'not a checkpoint ({reason})') from err


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


def load_state_dict_file(filename: str, keys: Sequence[str] = STATE_DICT_KEYS
                         ) -> Dict[str, torch.Tensor]:
    """:func:`load_checkpoint` then :func:`get_state_dict`."""
    return get_state_dict(load_checkpoint(filename), keys)


def save_state_dict(state_dict: Dict[str, torch.Tensor], path: str,
                    meta: Optional[dict] = None) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` (what MMEngine's loaders read); a path ending
    in ``.safetensors`` gets a safetensors file with ``meta`` as JSON (``mmbeit_meta``), which
    :func:`load_checkpoint` reads back the same."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    out = OrderedDict((k, v.detach().cpu().contiguous()) for k, v in state_dict.items())
    if str(path).endswith('.safetensors'):
        save_safetensors(out, path, dict(mmbeit_meta=json.dumps(meta or {}, default=str)))
        return
    torch.save(dict(state_dict=out, meta=dict(meta or {})), path)


def save_safetensors(state_dict: Dict[str, torch.Tensor], path: str,
                     metadata: Optional[Dict[str, str]] = None) -> None:
    """Write a safetensors file; tensors that share memory are written as copies."""
    from safetensors.torch import save_file

    seen: Dict[Tuple[int, int], str] = {}
    out = OrderedDict()
    for k, v in state_dict.items():
        v = v.detach().cpu().contiguous()
        ident = (v.untyped_storage().data_ptr(), v.storage_offset())
        out[k] = v.clone() if ident in seen or v.untyped_storage().nbytes() != \
            v.numel() * v.element_size() else v
        seen[ident] = k
    save_file(out, path, metadata={'format': 'pt', **(metadata or {})})


def _mmengine_local_loader(filename: str, map_location: Optional[Any] = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for local paths (replaces the unsafe default)."""
    return load_checkpoint(filename, map_location)


def download_checkpoint(url: str, model_dir: Optional[str] = None,
                        progress: bool = False) -> str:
    """The local copy of ``url`` in ``model_dir`` (default: torch hub's ``checkpoints``),
    downloaded once (rank 0 first, the other ranks after a barrier) and reused."""
    from mmengine.dist import barrier, get_dist_info

    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    name = osp.basename(urllib.parse.urlparse(url).path) or 'checkpoint.pth'
    path = osp.join(model_dir, name)
    rank, world_size = get_dist_info()
    if rank == 0:
        _download(url, path, progress)
    if world_size > 1:
        barrier()
        if rank > 0:  # a rank on another machine (no shared file system) fetches its own copy
            _download(url, path, progress)
    return path


def _download(url: str, path: str, progress: bool) -> None:
    if osp.isfile(path):
        return
    os.makedirs(osp.dirname(path), exist_ok=True)
    try:  # torch writes a temporary file and renames it: no partial file under the name
        torch.hub.download_url_to_file(url, path, progress=progress)
    except (OSError, ValueError) as err:  # URLError is an OSError
        raise CheckpointError(f'cannot download checkpoint {url}: {err}') from err


def load_checkpoint_from_url(url: str, map_location: Optional[Any] = None,
                             model_dir: Optional[str] = None, progress: bool = False) -> Any:
    """MMEngine's http(s) scheme made safe: download (:func:`download_checkpoint`), then read
    weights-only with :func:`load_checkpoint`. MMEngine's own goes through
    ``torch.hub.load_state_dict_from_url`` with ``weights_only=False``."""
    return load_checkpoint(download_checkpoint(url, model_dir, progress), map_location)


def install_safe_checkpoint_loader() -> None:
    """Route MMEngine's checkpoint loading through :func:`load_checkpoint`: local paths and
    http(s) URLs, including the model-zoo schemes that resolve to a URL (``open-mmlab://``,
    ``torchvision://``, ``mmcls://`` call the module's ``load_from_http``).

    Called by ``import mmbeit.engine`` (once per process is enough; calling again is a no-op).
    """
    from mmengine.runner import checkpoint as mmengine_checkpoint

    loader = mmengine_checkpoint.CheckpointLoader
    loader.register_scheme(prefixes='', loader=_mmengine_local_loader, force=True)
    loader.register_scheme(prefixes=('http://', 'https://'), loader=load_checkpoint_from_url,
                           force=True)
    mmengine_checkpoint.load_from_http = load_checkpoint_from_url


def safe_loader_installed() -> bool:
    """Whether MMEngine's local and http(s) schemes are mmbeit's weights-only loaders."""
    from mmengine.runner import checkpoint as mmengine_checkpoint

    schemes = mmengine_checkpoint.CheckpointLoader._schemes
    return (schemes.get('') is _mmengine_local_loader
            and schemes.get('https://') is load_checkpoint_from_url
            and mmengine_checkpoint.load_from_http is load_checkpoint_from_url)
