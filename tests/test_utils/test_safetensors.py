"""safetensors files wherever a checkpoint is read: same tensors, meta kept, damage named."""
from __future__ import annotations

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint
from safetensors.torch import save_file

import mmbeit.engine  # noqa: F401  (installs the safe loader into MMEngine)
from mmbeit.models.backbones import BEiTViT
from mmbeit.models.backbones.pretrained import load_pretrained_backbone
from mmbeit.utils.checkpoint import (
    CheckpointError,
    is_safetensors,
    load_checkpoint,
    save_state_dict,
)


def _tiny():
    torch.manual_seed(0)
    return BEiTViT(arch=dict(embed_dims=16, num_layers=1, num_heads=2), img_size=8,
                   patch_size=4)


def test_save_and_load_keep_tensors_and_meta(tmp_path):
    sd = {'a': torch.randn(3, 4), 'b': torch.arange(5)}
    sd['view'] = sd['a'][1]  # shares storage: written as a copy
    path = tmp_path / 'x.safetensors'
    save_state_dict(sd, str(path), meta=dict(arch=dict(num_heads=2), source='s'))
    got = load_checkpoint(str(path))
    assert got['meta'] == dict(arch=dict(num_heads=2), source='s')
    assert all(torch.equal(got['state_dict'][k], v) for k, v in sd.items())


def test_recognised_by_header_under_any_name_and_damage_is_named(tmp_path):
    path = tmp_path / 'weights.pth'  # a safetensors file with a .pth name
    save_file({'w': torch.ones(2)}, str(path), metadata={'format': 'pt'})
    assert is_safetensors(str(path))
    assert torch.equal(load_checkpoint(str(path))['state_dict']['w'], torch.ones(2))
    assert load_checkpoint(str(path))['meta'] == {'format': 'pt'}
    torch.save({'w': torch.ones(2)}, tmp_path / 'plain.pth')
    assert not is_safetensors(str(tmp_path / 'plain.pth'))

    broken = tmp_path / 'broken.safetensors'
    broken.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(CheckpointError, match='broken.safetensors.*damaged safetensors'):
        load_checkpoint(str(broken))


def test_backbone_init_cfg_and_mmengine_load_from_read_safetensors(tmp_path):
    src = _tiny()
    path = tmp_path / 'backbone.safetensors'
    save_state_dict({'backbone.' + k: v for k, v in src.state_dict().items()}, str(path),
                    meta=dict(arch=dict(num_heads=2)))
    dst = BEiTViT(arch=dict(embed_dims=16, num_layers=1, num_heads=2), img_size=8,
                  patch_size=4)
    load_pretrained_backbone(dst, str(path), prefix='backbone.')
    assert all(torch.equal(dst.state_dict()[k], v) for k, v in src.state_dict().items())
    # MMEngine's own loader (load_from, init_cfg of mmpretrain / mmdet / mmseg models)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert set(loaded['state_dict']) == {'backbone.' + k for k in src.state_dict()}
