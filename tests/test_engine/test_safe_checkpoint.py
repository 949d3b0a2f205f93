"""Weights-only checkpoint loading: MMEngine checkpoints load, pickled code is refused."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

import mmbeit  # noqa: F401  (registers the safe loader)
from mmbeit.engine.runner import UnsafeCheckpointError, safe_torch_load


class _Payload:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_malicious_pickle_is_refused_naming_the_global(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': _Payload()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path), map_location='cpu')  # MMEngine's own loading path
    assert 'system' in str(err.value) and str(path) in str(err.value)
    assert isinstance(err.value, pickle.UnpicklingError)


def test_mmengine_training_state_loads(tmp_path):
    hub = MessageHub.get_instance('safe-ckpt-test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('iter', 3)
    import numpy as np
    ckpt = dict(meta=dict(epoch=1, iter=3, seed=0, message_hub=hub.state_dict(),
                          hist=np.arange(4.0), scalar=np.float64(2.0)),
                state_dict={'w': torch.ones(2)}, optimizer={'state': {}, 'param_groups': []})
    path = tmp_path / 'ok.pth'
    torch.save(ckpt, path)
    loaded = safe_torch_load(str(path))
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    buf = loaded['meta']['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == 1.0


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


class _GetattrPayload:
    def __reduce__(self):
        from mmengine.logging import HistoryBuffer

        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = tmp_path / 'probe.pth'
    torch.save({'meta': _GetattrPayload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='__init__'):
        safe_torch_load(str(path))
