"""MoCo v3 ViT against mmpretrain's MoCoV3ViT and a timm ViT in the moco-v3 release layout.

moco-v3's ``vits.py`` builds its ViTs on timm's ``VisionTransformer`` (same keys, ``vit_small`` =
384 dims, 12 heads); mmpretrain 1.2's ``MoCoV3ViT`` has its own preset table and sin-cos code.
"""
import pytest
import torch
from mmpretrain.models.selfsup.mocov3 import MoCoV3ViT as MMPretrainMoCoV3ViT
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from timm.models.vision_transformer import VisionTransformer

from mmbeit.converters import convert_mmpretrain_beit
from mmbeit.models.backbones import ArchMismatchError, BEiTViT, MoCoV3ViT
from mmbeit.utils import load_state_dict_report
from tools.model_converters.mocov32mmbeit import main as mocov3_convert

from .parity import assert_close_rel, assert_parity, randomize_

IMG, PATCH = 32, 16


@pytest.mark.parametrize('grid', [(4, 4), (14, 14)])
def test_sincos_table_equals_mmpretrain_and_moco_v3(grid):
    ours = MoCoV3ViT(arch=dict(embed_dims=64, num_layers=1, num_heads=4),
                     img_size=(grid[0] * PATCH, grid[1] * PATCH), patch_size=PATCH).pos_embed
    want = build_2d_sincos_position_embedding(grid, 64, cls_token=True)
    assert ours.shape == want.shape
    assert_close_rel(ours, want, tol=1e-6)


@pytest.mark.parametrize('arch, mmpre_arch', [('small', 'mocov3-small'), ('base', 'base')])
def test_presets_give_mmpretrain_features(arch, mmpre_arch):
    torch.manual_seed(0)
    ref = randomize_(MMPretrainMoCoV3ViT(arch=mmpre_arch, img_size=IMG, patch_size=PATCH,
                                         out_type='cls_token'), seed=1)
    ref.eval()  # mmpretrain's MoCoV3ViT.train returns None
    ours = MoCoV3ViT(arch=arch, img_size=IMG, patch_size=PATCH).eval()
    load_state_dict_report(ours, convert_mmpretrain_beit(ref.state_dict()), source=mmpre_arch)
    x = torch.randn(2, 3, IMG, IMG)
    assert_parity(lambda t: ours(t)[0], lambda t: ref(t)[0], x, modules=(ours, ref))


def _timm_vit_small(num_classes=0):
    """moco-v3 ``vit_small``: timm ViT, 384 dims, 12 blocks, 12 heads of 32 dims."""
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=IMG, patch_size=PATCH, embed_dim=384, depth=12,
                            num_heads=12, num_classes=num_classes)
    return randomize_(vit, seed=2).eval()


def _release(tmp_path, vit):
    sd = {}
    for enc in ('base_encoder', 'momentum_encoder'):
        sd.update({f'module.{enc}.{k}': v for k, v in vit.state_dict().items()})
    path = tmp_path / 'vit-s-300ep.pth.tar'
    torch.save(dict(epoch=300, arch='vit_small', state_dict=sd), path)
    return path


def test_release_vit_small_loads_with_equal_features(tmp_path):
    vit = _timm_vit_small()
    dst = tmp_path / 'mocov3_vit-small.pth'
    mocov3_convert([str(_release(tmp_path, vit)), str(dst), '--prefix', 'backbone.'])
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['arch']['num_heads'] == 12
    ours = MoCoV3ViT(arch='small', img_size=IMG, patch_size=PATCH, init_cfg=dict(
        type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    ours.init_weights()
    x = torch.randn(2, 3, IMG, IMG)
    assert_parity(lambda t: ours.eval()(t)[0], lambda t: vit.forward_features(t)[:, 0], x,
                  modules=(ours, vit))


def test_release_into_the_wrong_head_count_names_the_fitting_preset(tmp_path):
    dst = tmp_path / 'mocov3_vit-small.pth'
    mocov3_convert([str(_release(tmp_path, _timm_vit_small())), str(dst)])
    deit_small = BEiTViT(arch='small', img_size=IMG, patch_size=PATCH, pos_embed='sincos',
                         use_shared_rel_pos_bias=False, layer_scale_init_value=0.0,
                         init_cfg=dict(type='Pretrained', checkpoint=str(dst),
                                       prefix='backbone.'))
    with pytest.raises(ArchMismatchError, match="num_heads 12 \\(backbone 6\\)") as err:
        deit_small.init_weights()
    assert "type='MoCoV3ViT', arch='small'" in str(err.value)


def test_linear_release_gives_the_same_logits(tmp_path):
    vit = _timm_vit_small(num_classes=10)
    src, dst = tmp_path / 'linear-vit-s-300ep.pth.tar', tmp_path / 'linear.pth'
    torch.save(dict(arch='vit_small', state_dict={'module.' + k: v
                                                  for k, v in vit.state_dict().items()}), src)
    mocov3_convert([str(src), str(dst), '--prefix', 'backbone.'])
    ours = MoCoV3ViT(arch='small', img_size=IMG, patch_size=PATCH, init_cfg=dict(
        type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    ours.init_weights()
    state = torch.load(dst, weights_only=True)['state_dict']
    fc = torch.nn.Linear(384, 10)
    fc.load_state_dict({k[len('head.fc.'):]: v for k, v in state.items()
                        if k.startswith('head.fc.')})
    x = torch.randn(2, 3, IMG, IMG)
    assert_parity(lambda t: fc(ours.eval()(t)[0]), vit, x, modules=(ours, fc, vit))
