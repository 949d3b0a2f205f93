"""mmpretrain 1.2 BEiT backbone keys <-> mmbeit keys, and the mmpretrain2mmbeit CLI."""
from __future__ import annotations

import pytest
import torch
from mmpretrain.models.backbones import BEiTViT as MMPretrainBEiTViT
from mmpretrain.models.selfsup.beit import BEiTPretrainViT

from mmbeit.converters import convert_mmbeit_to_mmpretrain, convert_mmpretrain_beit
from mmbeit.models.backbones import BEiTViT
from mmbeit.utils import load_checkpoint
from tools.model_converters import mmpretrain2mmbeit

ARCH = dict(embed_dims=32, num_layers=2, num_heads=4)
KW = dict(img_size=32, patch_size=8)


def _mmpretrain_finetune_vit(**kw):
    return MMPretrainBEiTViT(arch=dict(ARCH, feedforward_channels=128), **KW, **kw)


def _mmpretrain_pretrain_vit():
    return BEiTPretrainViT(arch=dict(ARCH, feedforward_channels=128), **KW)


def _assert_same_layout(state, model):
    own = model.state_dict()
    assert sorted(state) == sorted(own)
    for key, value in state.items():
        assert value.shape == own[key].shape, key


def test_finetune_vit_keys_map_onto_mmbeit():
    theirs = _mmpretrain_finetune_vit()  # per-layer bias, layer scale, avg_featmap norm
    converted = convert_mmpretrain_beit(theirs.state_dict())
    ours = BEiTViT(arch=ARCH, **KW, use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
                   final_norm=False, avg_token_norm=True)
    _assert_same_layout(converted, ours)
    assert torch.equal(converted['blocks.1.mlp.fc2.weight'],
                       theirs.state_dict()['layers.1.ffn.layers.1.weight'])


def test_pretrain_vit_keys_map_onto_mmbeit():
    converted = convert_mmpretrain_beit(_mmpretrain_pretrain_vit().state_dict())
    ours = BEiTViT(arch=ARCH, **KW, with_mask_token=True)  # shared bias, final norm
    _assert_same_layout(converted, ours)
    assert not any(k.endswith('relative_position_index') for k in converted)


def test_algorithm_checkpoint_keeps_prefixes_and_other_parts():
    backbone = _mmpretrain_pretrain_vit().state_dict()
    state = {f'backbone.{k}': v for k, v in backbone.items()}
    others = {'neck.patch_aggregation.0.ln1.weight': torch.ones(3),
              'head.cls_head.weight': torch.zeros(2),
              'target_generator.encoder.layers.0.ln1.weight': torch.ones(4)}
    converted = convert_mmpretrain_beit({**state, **others})
    for key, value in others.items():  # untouched, even when they look like backbone keys
        assert converted[key] is value
    backbone_keys = {k[len('backbone.'):] for k in converted if k.startswith('backbone.')}
    assert backbone_keys == set(convert_mmpretrain_beit(backbone))
    assert len(converted) == len(backbone_keys) + len(others)


def test_full_qkv_bias_splits_into_q_and_v_bias():
    theirs = _mmpretrain_finetune_vit(bias=True)
    state = theirs.state_dict()
    state['layers.0.attn.qkv.bias'] = torch.arange(96, dtype=torch.float32)
    converted = convert_mmpretrain_beit(state)
    assert torch.equal(converted['blocks.0.attn.q_bias'], torch.arange(32.0))
    assert torch.equal(converted['blocks.0.attn.v_bias'], torch.arange(64.0, 96.0))
    assert 'blocks.0.attn.qkv.bias' not in converted


@pytest.mark.parametrize('make', [_mmpretrain_pretrain_vit, _mmpretrain_finetune_vit])
def test_round_trip_restores_mmpretrain_state_dict_exactly(make):
    state = make().state_dict()
    back = convert_mmbeit_to_mmpretrain(convert_mmpretrain_beit(state))
    assert sorted(back) == sorted(state)
    for key, value in state.items():  # relative_position_index buffers rebuilt identically
        assert torch.equal(back[key], value), key


def test_reverse_rejects_non_square_table():
    with pytest.raises(ValueError, match='not a square grid'):
        convert_mmbeit_to_mmpretrain({'rel_pos_bias.relative_position_bias_table':
                                      torch.zeros(7 * 5 + 3, 4)})


@pytest.mark.parametrize('wrap', ['mmengine', 'plain'])
def test_cli_converts_checkpoint_file(tmp_path, wrap, capsys):
    backbone = _mmpretrain_pretrain_vit().state_dict()
    state = {f'backbone.{k}': v for k, v in backbone.items()}
    src, dst, back = tmp_path / 'src.pth', tmp_path / 'dst.pth', tmp_path / 'back.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=3)) if wrap == 'mmengine' else state, src)
    mmpretrain2mmbeit.main([str(src), str(dst)])
    assert 'saved' in capsys.readouterr().out
    converted = load_checkpoint(str(dst))['state_dict']
    ours = BEiTViT(arch=ARCH, **KW, with_mask_token=True)
    _assert_same_layout({k[len('backbone.'):]: v for k, v in converted.items()}, ours)
    mmpretrain2mmbeit.main([str(dst), str(back), '--reverse'])
    restored = load_checkpoint(str(back))['state_dict']
    assert sorted(restored) == sorted(state)
