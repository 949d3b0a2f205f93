"""Pretrained loads into BEiTViT: wrong architectures and missing tensors fail loudly."""
import pytest
import torch

from mmbeit.converters import arch_meta
from mmbeit.models.backbones import ArchMismatchError, BEiTViT, MoCoV3ViT
from mmbeit.utils import StateDictMismatchError, save_state_dict
from tools.model_converters.extract_backbone import main as extract_main
from tools.model_converters.mocov32mmbeit import main as mocov3_convert

ARCH = dict(embed_dims=32, num_layers=2, num_heads=4)


def _vit(arch=ARCH, **kw):
    return BEiTViT(arch=arch, img_size=16, patch_size=4, **kw)


def _save(tmp_path, model, num_heads=None, drop=()):
    sd = {k: v for k, v in model.state_dict().items() if k not in drop}
    path = tmp_path / 'backbone.pth'
    save_state_dict(sd, str(path), meta=dict(arch=arch_meta(sd, num_heads)))
    return path


def _load(path, arch=ARCH, **kw):
    model = _vit(arch, init_cfg=dict(type='Pretrained', checkpoint=str(path), **kw))
    model.init_weights()
    return model


def test_equal_arch_loads_every_tensor(tmp_path):
    src = _vit()
    src.init_weights()
    got = _load(_save(tmp_path, src, num_heads=4))
    for (k, a), b in zip(src.state_dict().items(), got.state_dict().values()):
        assert torch.equal(a, b), k


def test_recorded_head_count_is_checked(tmp_path):
    path = _save(tmp_path, _vit(), num_heads=4)
    with pytest.raises(ArchMismatchError, match=r'num_heads 4 \(backbone 2\)'):
        _load(path, dict(ARCH, num_heads=2))


def test_shape_mismatch_names_the_fitting_presets(tmp_path):
    src = BEiTViT(arch='small', img_size=16, patch_size=4)
    path = _save(tmp_path, src)  # no head count recorded: shapes only
    with pytest.raises(ArchMismatchError) as err:
        _load(path)
    msg = str(err.value)
    assert 'embed_dims 384 (backbone 32)' in msg
    assert "type='BEiTViT', arch='small'" in msg and "type='MoCoV3ViT', arch='small'" in msg


def test_a_missing_tensor_is_an_error_or_a_warning(tmp_path):
    path = _save(tmp_path, _vit(), num_heads=4, drop=('blocks.1.mlp.fc2.weight',))
    with pytest.raises(StateDictMismatchError, match='blocks.1.mlp.fc2.weight'):
        _load(path)
    model = _load(path, strict_missing=False)  # loads the rest, keeps the init
    assert model.blocks[1].mlp.fc2.weight.shape == (32, 128)


def test_fine_tuning_parts_may_be_new(tmp_path):
    src = _vit(with_mask_token=True)
    src.init_weights()
    path = _save(tmp_path, src, num_heads=4)
    model = BEiTViT(arch=ARCH, img_size=16, patch_size=4, final_norm=False,
                    avg_token_norm=True, init_cfg=dict(type='Pretrained',
                                                       checkpoint=str(path)))
    model.init_weights()  # fc_norm is new, norm / mask_token unused: no error
    # the shared tensors are the checkpoint's, the new fc_norm keeps LayerNorm's init
    got, want = model.state_dict(), src.state_dict()
    shared = set(got) & set(want)
    assert set(got) - shared == {'fc_norm.weight', 'fc_norm.bias'}
    assert all(torch.equal(got[k], want[k]) for k in shared)
    assert torch.equal(model.fc_norm.weight, torch.ones(32))
    assert torch.equal(model.fc_norm.bias, torch.zeros(32))


def test_converters_record_the_head_count(tmp_path):
    src = _vit()
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in src.state_dict().items()},
                    meta=dict(epoch=1)), ckpt)
    extract_main([str(ckpt), str(tmp_path / 'a.pth'), '--num-heads', '4'])
    assert torch.load(tmp_path / 'a.pth', weights_only=True)['meta']['arch'] == dict(
        embed_dims=32, patch_size=4, num_layers=2, mlp_ratio=4.0, num_heads=4)
    with pytest.raises(ValueError, match='does not divide'):
        extract_main([str(ckpt), str(tmp_path / 'b.pth'), '--num-heads', '5'])


def test_mocov3_converter_refuses_a_head_count_the_release_contradicts(tmp_path):
    vit = MoCoV3ViT(arch=dict(embed_dims=384, num_layers=1, num_heads=12), img_size=16)
    sd = {'module.base_encoder.' + k: v for k, v in vit.state_dict().items()
          if not k.endswith(('q_bias', 'v_bias'))}
    src = tmp_path / 'vit-s.pth.tar'
    torch.save(dict(arch='vit_small', state_dict=sd), src)
    with pytest.raises(SystemExit, match='12 heads'):
        mocov3_convert([str(src), str(tmp_path / 'out.pth'), '--num-heads', '6'])


def test_sincos_table_of_another_grid_is_rebuilt_not_loaded(tmp_path):
    src = MoCoV3ViT(arch=ARCH, img_size=16, patch_size=4)
    path = _save(tmp_path, src, num_heads=4)
    big = MoCoV3ViT(arch=ARCH, img_size=32, patch_size=4,
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    want = big.pos_embed.detach().clone()
    big.init_weights()
    assert torch.equal(big.pos_embed, want)
    assert torch.equal(big.blocks[0].attn.qkv.weight, src.blocks[0].attn.qkv.weight)
