import math

import pytest
import torch

from mmbeit.models.backbones import MoCoV3ViT


def _vit(**kwargs) -> MoCoV3ViT:
    torch.manual_seed(0)
    model = MoCoV3ViT(arch=dict(embed_dims=32, num_layers=2, num_heads=2), img_size=16,
                      patch_size=4, **kwargs)
    model.init_weights()
    return model


def test_pos_embed_is_2d_sincos_with_zero_cls_and_frozen():
    model = _vit()
    pos = model.pos_embed[0]  # (1 + 16, 32)
    assert not model.pos_embed.requires_grad
    assert torch.all(pos[0] == 0)
    quarter = 32 // 4
    for h in range(4):
        for w in range(4):
            row = pos[1 + h * 4 + w]
            for i in range(quarter):
                omega = 1.0 / 10000 ** (i / quarter)
                # moco-v3 / mmpretrain orientation: the first half encodes the row
                expected = [math.sin(h * omega), math.cos(h * omega), math.sin(w * omega),
                            math.cos(w * omega)]
                got = [row[i], row[quarter + i], row[2 * quarter + i], row[3 * quarter + i]]
                assert torch.allclose(torch.tensor([float(g) for g in got]),
                                      torch.tensor(expected), atol=1e-6)


def test_patch_projection_frozen_xavier_uniform_and_switchable():
    frozen = _vit()
    proj = frozen.patch_embed.proj
    assert not proj.weight.requires_grad and not proj.bias.requires_grad
    bound = math.sqrt(6.0 / (3 * 4 * 4 + 32))
    assert proj.weight.abs().max() <= bound
    assert proj.weight.abs().max() > 0.9 * bound  # uniform fills the range
    assert _vit(frozen_patch_embed=False).patch_embed.proj.weight.requires_grad
    assert _vit(stop_grad_conv1=False).patch_embed.proj.weight.requires_grad


def test_frozen_patch_projection_gets_no_grad_and_does_not_change():
    for frozen in (True, False):
        model = _vit(frozen_patch_embed=frozen)
        before = model.patch_embed.proj.weight.detach().clone()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            model(torch.randn(4, 3, 16, 16))[0].pow(2).sum().backward()
            opt.step()
        changed = not torch.equal(before, model.patch_embed.proj.weight)
        assert (model.patch_embed.proj.weight.grad is None) == frozen
        assert changed != frozen


def test_cls_token_output_and_fixed_settings():
    model = _vit()
    out = model(torch.randn(2, 3, 16, 16))
    assert len(out) == 1 and out[0].shape == (2, 32)
    assert model.rel_pos_bias is None and model.blocks[0].gamma_1 is None  # no layer scale
    assert model.blocks[0].rel_pos_bias is None  # no per-layer relative position bias
    with pytest.raises(TypeError, match='pos_embed'):
        MoCoV3ViT(arch='tiny', pos_embed='learned')


def test_presets_follow_moco_v3_vits():
    # moco-v3 vits.py: vit_small 384 dims in 12 heads (32 dims each), vit_base 768 / 12
    for arch, width, heads in (('small', 384, 12), ('base', 768, 12), ('large', 1024, 16)):
        model = MoCoV3ViT(arch=arch, img_size=32, patch_size=16)
        assert (model.embed_dims, model.num_heads) == (width, heads)
        assert model.blocks[0].attn.num_heads == heads
