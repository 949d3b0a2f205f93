"""The one checkpoint reader: MMEngine checkpoints load, pickled code is refused, every failure
is a CheckpointError naming the file."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

import mmbeit.engine  # noqa: F401  (installs the safe loader into MMEngine: the one place)
from mmbeit.utils.checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
    load_checkpoint,
)


class _Payload:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_malicious_pickle_is_refused_naming_the_global(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'meta': _Payload()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path), map_location='cpu')  # MMEngine's own loading path
    assert 'system' in str(err.value) and str(path) in str(err.value)
    assert isinstance(err.value, pickle.UnpicklingError) and isinstance(err.value,
                                                                        CheckpointError)


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
    loaded = load_checkpoint(str(path))
    assert torch.equal(loaded['state_dict']['w'], torch.ones(2))
    buf = loaded['meta']['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == 1.0


def test_missing_checkpoint_or_folder_names_the_path(tmp_path):
    for load in (_load_checkpoint, load_checkpoint):  # MMEngine's path and mmbeit's
        with pytest.raises(CheckpointNotFoundError, match=f'{tmp_path}/nope.pth does not exist'):
            load(str(tmp_path / 'nope.pth'))
        with pytest.raises(FileNotFoundError, match=f'{tmp_path} is a folder'):
            load(str(tmp_path))


class _GetattrPayload:
    def __init__(self, owner: str, name: str) -> None:
        self.owner, self.name = owner, name

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        from torch.distributed._shard.sharded_tensor.api import ShardedTensor

        owner = dict(HistoryBuffer=HistoryBuffer, ShardedTensor=ShardedTensor)[self.owner]
        return (getattr, (owner, self.name))


@pytest.mark.parametrize('owner,name', [('HistoryBuffer', '__init__'),
                                        ('ShardedTensor', '__setstate__'),
                                        ('ShardedTensor', '_init_from_local_shards')])
def test_getattr_is_limited_to_statistics_and_the_sharded_tensor_record(tmp_path, owner, name):
    """HistoryBuffer's statistics methods and ShardedTensor.ProcessGroupState (FSDP's per-rank
    checkpoints, loaded in tests/test_engine/test_fsdp_strategy.py) only."""
    path = tmp_path / 'probe.pth'
    torch.save({'meta': _GetattrPayload(owner, name)}, path)
    with pytest.raises(UnsafeCheckpointError, match=name):
        load_checkpoint(str(path))


@pytest.mark.parametrize('layout', ['zip', 'legacy', 'raw_pickle'])
def test_refusal_names_file_and_global_and_never_suggests_weights_only_false(tmp_path, layout):
    import fractions

    path = tmp_path / f'old_{layout}.pth'
    obj = {'state_dict': {'w': torch.ones(2)}, 'meta': fractions.Fraction(1, 3)}
    if layout == 'raw_pickle':  # pickle.dump of tensors would name torch's storage loader
        with open(path, 'wb') as f:
            pickle.dump({'meta': obj['meta']}, f, protocol=2)
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=layout == 'zip')
    for load in (_load_checkpoint, load_checkpoint):  # MMEngine's path and mmbeit's
        with pytest.raises(UnsafeCheckpointError) as err:
            load(str(path))
        msg = str(err.value)
        assert f'refused to load {path}: it pickles the global fractions.Fraction' in msg
        assert 'tools/model_converters/' in msg and 'state_dict()' in msg
        assert 'weights_only' not in msg and 'Weights only load failed' not in msg


def test_read_error_names_the_file(tmp_path):
    path = tmp_path / 'truncated.pth'
    torch.save({'w': torch.ones(4)}, path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match=f'cannot read checkpoint {path}'):
        load_checkpoint(str(path))


def test_empty_transfer_checkpoint_path_names_the_setting_to_change():
    """The transfer configs ship checkpoint=''; building + init must say what to set."""
    from mmbeit.registry import MODELS

    backbone = MODELS.build(dict(type='BEiTViT', _scope_='mmbeit',
                                 arch=dict(embed_dims=32, num_layers=1, num_heads=2),
                                 img_size=32, patch_size=16,
                                 init_cfg=dict(type='Pretrained', checkpoint='',
                                               prefix='backbone.')))
    with pytest.raises(FileNotFoundError,
                       match=r'model\.backbone\.init_cfg\.checkpoint=PATH.*extract_backbone'):
        backbone.init_weights()


@pytest.mark.parametrize('content,reason', [(b'', 'the file is empty'),
                                            (b'hello world\n', 'KeyError'),
                                            (bytes(range(256)) * 16, 'pickle opcode')])
def test_damaged_files_are_damaged_not_unsafe_naming_size_and_reason(tmp_path, content, reason):
    path = tmp_path / 'broken.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(str(path))
    assert not isinstance(err.value, UnsafeCheckpointError)
    assert f'{path} ({len(content)} bytes): damaged' in str(err.value)
    assert reason in str(err.value)
