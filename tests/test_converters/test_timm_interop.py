"""mmbeit <-> timm: strict loads into the installed timm, its outputs, lossless round trips."""
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from mmbeit.converters.timm_layout import mmbeit_to_timm, timm_to_mmbeit
from mmbeit.converters.vit_export import ViTExport, read_vit_export
from mmbeit.utils import get_state_dict, load_checkpoint, strip_prefix
from tools.model_converters import mmbeit2timm, timm2mmbeit

from .interop_models import (
    BEIT_FT,
    MOCOV3,
    beit_v1_checkpoint,
    beit_v2_checkpoint,
    build_backbone,
    classifier_checkpoint,
    images,
    mocov3_checkpoint,
    rel_err,
)


def _timm_model(result):
    model = timm.create_model(result.model_name, pretrained=False, **result.kwargs).eval()
    model.load_state_dict(result.state_dict, strict=True)
    return model


@torch.no_grad()
def test_beit_v1_pretraining_exports_to_timm_beit_with_equal_tokens(tmp_path):
    backbone, _ = beit_v1_checkpoint(tmp_path / 'beit.pth')
    export = read_vit_export(str(tmp_path / 'beit.pth'))
    assert (export.num_heads, export.generation, export.rel_pos) == (4, 'beit', 'shared')
    assert export.left_out == {'target_generator': 1}
    result = mmbeit_to_timm(export)
    assert result.model_name == 'beit_base_patch16_224'
    assert result.kwargs['global_pool'] == 'token' and result.kwargs['num_classes'] == 0
    assert any('mask_token' in d for d in result.dropped)
    assert any('lm_head' in d for d in result.dropped)
    x = images()
    got = _timm_model(result).forward_features(x)
    assert rel_err(got, backbone(x)[0]) <= 1e-5
    assert result.pretrained_cfg['mean'] == pytest.approx((0.485, 0.456, 0.406), abs=1e-6)


@torch.no_grad()
def test_beit_v2_shared_norm_from_the_neck_and_shared_table_kept_shared(tmp_path):
    backbone, norm = beit_v2_checkpoint(tmp_path / 'v2.pth')
    export = read_vit_export(str(tmp_path / 'v2.pth'))
    assert export.generation == 'beitv2' and export.final_norm
    assert export.left_out == {'neck': 1, 'head': 2}  # aggregation block, lm_head_agg
    for share in (False, True):
        result = mmbeit_to_timm(export, share_rel_pos_bias=share)
        assert result.model_name == 'beitv2_base_patch16_224'
        assert result.kwargs.get('use_shared_rel_pos_bias', False) is share
        x = images()
        want = norm(backbone.forward_tokens(x)[1])
        assert rel_err(_timm_model(result).forward_features(x), want) <= 1e-5


@torch.no_grad()
def test_finetuned_beit_classifier_gives_timm_the_same_logits(tmp_path):
    backbone, fc = classifier_checkpoint(tmp_path / 'ft.pth', BEIT_FT)
    result = mmbeit_to_timm(read_vit_export(str(tmp_path / 'ft.pth')))
    assert result.kwargs['num_classes'] == 5 and 'global_pool' not in result.kwargs  # 'avg'
    assert result.pretrained_cfg['mean'] == result.pretrained_cfg['std'] == (0.5, 0.5, 0.5)
    x = images()
    want = F.linear(backbone(x)[0], fc['weight'], fc['bias'])
    assert rel_err(_timm_model(result)(x), want) <= 1e-5


@torch.no_grad()
def test_mocov3_exports_to_timm_vision_transformer(tmp_path):
    backbone = mocov3_checkpoint(tmp_path / 'moco.pth')
    export = read_vit_export(str(tmp_path / 'moco.pth'))
    assert (export.family, export.generation) == ('vit', 'mocov3')
    assert set(export.left_out) == {'neck', 'head', 'momentum_encoder'}
    result = mmbeit_to_timm(export)
    assert result.model_name == 'vit_base_patch16_224'
    stem = 'blocks.0.attn.qkv.bias'
    assert not result.state_dict[stem][32:64].any()  # the zero k third
    x = images()
    got = _timm_model(result).forward_features(x)
    assert rel_err(got[:, 0], backbone(x)[0]) <= 1e-5  # MoCoV3ViT's output: the CLS token


@pytest.mark.parametrize('cfg', [BEIT_FT, MOCOV3])
def test_round_trip_through_timm_is_bit_identical(tmp_path, cfg):
    backbone, fc = classifier_checkpoint(tmp_path / 'ft.pth', cfg)
    result = mmbeit_to_timm(read_vit_export(str(tmp_path / 'ft.pth')))
    back, head, dropped = timm_to_mmbeit(result.state_dict)
    own = backbone.state_dict()
    assert sorted(back) == sorted(own) and dropped == []
    assert all(torch.equal(back[k], own[k]) for k in own)
    assert all(torch.equal(head[k], fc[k]) for k in fc)


def test_command_lines_round_trip_safetensors_and_record_the_model(tmp_path, capsys):
    backbone, _ = beit_v2_checkpoint(tmp_path / 'v2.pth')
    dst = tmp_path / 'timm.safetensors'
    mmbeit2timm.main([str(tmp_path / 'v2.pth'), str(dst), '--share-rel-pos-bias'])
    printed = capsys.readouterr().out
    assert "timm.create_model('beitv2_base_patch16_224'" in printed and 'pretrained_cfg' in printed
    assert 'not exported' in printed and 'neck.* (1 tensors)' in printed
    meta = load_checkpoint(str(dst))['meta']
    assert meta['timm_model_name'] == 'beitv2_base_patch16_224'
    assert set(load_file(str(dst))) == set(mmbeit_to_timm(
        read_vit_export(str(tmp_path / 'v2.pth')), share_rel_pos_bias=True).state_dict)

    out = tmp_path / 'back.pth'
    timm2mmbeit.main([str(dst), str(out)])  # heads from the file's own record
    printed = capsys.readouterr().out
    assert "use_shared_rel_pos_bias=True" in printed
    checkpoint = load_checkpoint(str(out))
    assert checkpoint['meta']['arch']['num_heads'] == 4
    back = strip_prefix(get_state_dict(checkpoint), 'backbone.')
    own = {k: v for k, v in backbone.state_dict().items() if k != 'mask_token'}
    own.update({'norm.' + k: v for k, v in
                strip_prefix(get_state_dict(load_checkpoint(str(tmp_path / 'v2.pth'))),
                             'neck.norm.').items()})
    assert sorted(back) == sorted(own)
    assert all(torch.equal(back[k], own[k]) for k in own)


@torch.no_grad()
def test_real_sizes_need_only_the_registered_names():
    """ViT-B/16 BEiT v2 and MoCo v3 ViT-S/16 (12 heads of 32) at 224 px."""
    beit = build_backbone(dict(type='BEiTViT', arch='base', final_norm=True,
                               use_rel_pos_bias=True, use_shared_rel_pos_bias=False), std=0.02)
    export = ViTExport(dict(beit.state_dict()), num_heads=12, generation='beitv2')
    result = mmbeit_to_timm(export)
    assert result.create_model_call() == ("timm.create_model('beitv2_base_patch16_224', "
                                          "pretrained=False, num_classes=0, global_pool='token')")
    x = torch.randn(1, 3, 224, 224)
    assert rel_err(_timm_model(result).forward_features(x), beit(x)[0]) <= 1e-5
    del beit

    moco = build_backbone(dict(type='MoCoV3ViT', arch='small'), std=0.02)
    result = mmbeit_to_timm(ViTExport(dict(moco.state_dict()), 12, generation='mocov3'))
    assert result.model_name == 'vit_small_patch16_224'
    assert result.kwargs == dict(num_classes=0, num_heads=12)
    assert rel_err(_timm_model(result).forward_features(x)[:, 0], moco(x)[0]) <= 1e-5


def test_unknown_tensors_and_unknown_heads_are_errors_that_name_them(tmp_path):
    backbone = build_backbone(BEIT_FT)
    sd = dict(backbone.state_dict(), **{'blocks.0.attn.extra': torch.zeros(1)})
    with pytest.raises(KeyError, match='blocks.0.attn.extra'):
        mmbeit_to_timm(ViTExport(sd, num_heads=4))
    result = mmbeit_to_timm(ViTExport(dict(backbone.state_dict()), num_heads=4))
    with pytest.raises(KeyError, match='blocks.1.mlp.gate'):
        timm_to_mmbeit({**result.state_dict, 'blocks.1.mlp.gate.weight': torch.zeros(1)})
    torch.save({'backbone.' + k: v for k, v in backbone.state_dict().items()},
               tmp_path / 'bare.pth')
    with pytest.raises(ValueError, match='--num-heads'):
        read_vit_export(str(tmp_path / 'bare.pth'))
    torch.save(result.state_dict, tmp_path / 'timm.pth')
    with pytest.raises(SystemExit, match='--model-name or --num-heads'):
        timm2mmbeit.main([str(tmp_path / 'timm.pth'), str(tmp_path / 'out.pth')])
