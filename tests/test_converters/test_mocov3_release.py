"""moco-v3 ViT release -> mmbeit backbone: keys land, outputs equal, k bias has no effect."""
import pytest
import torch

from mmbeit.converters import convert_mocov3_release
from mmbeit.models.backbones import BEiTViT
from mmbeit.utils import load_state_dict_report

from .vit_reference import timm_vit_forward

C, HEADS, DEPTH, PATCH, IMG, HID, OUT = 16, 2, 2, 4, 16, 24, 8


def timm_vit(g):
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {'cls_token': r(1, 1, C), 'pos_embed': r(1, (IMG // PATCH) ** 2 + 1, C),
          'patch_embed.proj.weight': r(C, 3, PATCH, PATCH), 'patch_embed.proj.bias': r(C)}
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        sd.update({p + 'norm1.weight': 1 + r(C), p + 'norm1.bias': r(C),
                   p + 'attn.qkv.weight': r(3 * C, C), p + 'attn.qkv.bias': r(3 * C),
                   p + 'attn.proj.weight': r(C, C), p + 'attn.proj.bias': r(C),
                   p + 'norm2.weight': 1 + r(C), p + 'norm2.bias': r(C),
                   p + 'mlp.fc1.weight': r(4 * C, C), p + 'mlp.fc1.bias': r(4 * C),
                   p + 'mlp.fc2.weight': r(C, 4 * C), p + 'mlp.fc2.bias': r(C)})
    sd.update({'norm.weight': 1 + r(C), 'norm.bias': r(C)})
    return sd


def _bn(prefix, dims, affine, g):
    sd = {prefix + 'running_mean': torch.randn(dims, generator=g),
          prefix + 'running_var': torch.rand(dims, generator=g) + 0.5,
          prefix + 'num_batches_tracked': torch.tensor(7)}
    if affine:
        sd.update({prefix + 'weight': torch.ones(dims), prefix + 'bias': torch.zeros(dims)})
    return sd


def _mlp(prefix, num_layers, in_dims, g):
    """moco-v3 ``_build_mlp``: Linear(no bias), BN, ReLU ..., last Linear + BN(affine=False)."""
    sd, dims = {}, in_dims
    for layer in range(num_layers):
        out = OUT if layer == num_layers - 1 else HID
        sd[f'{prefix}{3 * layer}.weight'] = torch.randn(out, dims, generator=g)
        sd.update(_bn(f'{prefix}{3 * layer + 1}.', out, layer < num_layers - 1, g))
        dims = out
    return sd


def release_pretrain(seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for enc in ('base_encoder', 'momentum_encoder'):
        sd.update({f'module.{enc}.{k}': v for k, v in timm_vit(g).items()})
        sd.update(_mlp(f'module.{enc}.head.', 3, C, g))
    sd.update(_mlp('module.predictor.', 2, OUT, g))
    return sd


def _backbone():
    return BEiTViT(arch=dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS), img_size=IMG,
                   patch_size=PATCH, pos_embed='sincos', use_shared_rel_pos_bias=False,
                   layer_scale_init_value=0.0, freeze_patch_embed=True).eval()


def _strip(sd, prefix):
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


@pytest.mark.parametrize('encoder', ['base_encoder', 'momentum_encoder'])
def test_pretraining_release_converts_with_equal_outputs(encoder):
    sd = release_pretrain()
    parts = convert_mocov3_release(sd, encoder=encoder)
    assert set(parts) == {'backbone', 'projector', 'predictor'}
    assert set(parts['projector']) == set(_strip(sd, f'module.{encoder}.head.'))
    assert set(parts['predictor']) == set(_strip(sd, 'module.predictor.'))
    backbone = _backbone()
    load_state_dict_report(backbone, parts['backbone'], source='moco-v3')
    x = torch.randn(2, 3, IMG, IMG)
    want = timm_vit_forward(_strip(sd, f'module.{encoder}.'), x, DEPTH, HEADS, PATCH)
    with torch.no_grad():
        got = backbone(x)[-1]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_k_bias_does_not_change_attention_outputs():
    vit = _strip(release_pretrain(), 'module.base_encoder.')
    no_k = dict(vit)
    for i in range(DEPTH):
        b = no_k[f'blocks.{i}.attn.qkv.bias'].clone()
        assert b[C:2 * C].abs().sum() > 0
        b[C:2 * C] = 0
        no_k[f'blocks.{i}.attn.qkv.bias'] = b
    x = torch.randn(2, 3, IMG, IMG)
    torch.testing.assert_close(timm_vit_forward(no_k, x, DEPTH, HEADS, PATCH),
                               timm_vit_forward(vit, x, DEPTH, HEADS, PATCH),
                               atol=1e-5, rtol=1e-5)


def test_linear_release_keeps_the_classifier():
    g = torch.Generator().manual_seed(3)
    sd = {'module.' + k: v for k, v in timm_vit(g).items()}
    sd['module.head.weight'], sd['module.head.bias'] = torch.randn(10, C), torch.randn(10)
    parts = convert_mocov3_release(sd)
    assert set(parts['cls_head']) == {'fc.weight', 'fc.bias'}
    assert torch.equal(parts['cls_head']['fc.weight'], sd['module.head.weight'])
    assert torch.equal(parts['cls_head']['fc.bias'], sd['module.head.bias'])
    load_state_dict_report(_backbone(), parts['backbone'])


def test_unknown_keys_are_reported():
    sd = release_pretrain()
    sd['module.queue'] = torch.zeros(3)
    with pytest.raises(KeyError, match='module.queue|queue'):
        convert_mocov3_release(sd)
