"""BEiTViT: fused attention, equality with mmpretrain 1.2's BEiT backbones, bias resizing."""
from __future__ import annotations

import math

import pytest
import torch
from mmpretrain.models.backbones import BEiTViT as MMPretrainBEiTViT
from mmpretrain.models.selfsup.beit import BEiTPretrainViT
from torch import nn

from mmbeit.converters import convert_mmbeit_to_mmpretrain, convert_mmpretrain_beit
from mmbeit.models.backbones import BEiTViT
from mmbeit.models.utils import Attention, RelativePositionBias
from mmbeit.utils import StateDictMismatchError, load_state_dict_report

DIMS, LAYERS, HEADS = 32, 3, 4
TINY = dict(embed_dims=DIMS, num_layers=LAYERS, num_heads=HEADS)
MMPRETRAIN_TINY = dict(TINY, feedforward_channels=4 * DIMS)
IMG, PATCH = 32, 8  # 4 x 4 patch grid


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random (norm weights around 1), so no term of the forward is trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                noise = torch.randn(p.shape, generator=gen) * 0.2
                base = 1.0 if isinstance(module, nn.LayerNorm) and name == 'weight' else 0.0
                p.copy_(base + noise)
    model.eval()  # (mmpretrain's train() returns None)
    return model


def explicit_attention(attn: Attention, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + bias) V, written out."""
    b, n, c = x.shape
    d = c // attn.num_heads
    qkv_bias = torch.cat([attn.q_bias, torch.zeros_like(attn.q_bias), attn.v_bias])
    qkv = x @ attn.qkv.weight.T + qkv_bias
    q, k, v = qkv.reshape(b, n, 3, attn.num_heads, d).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d) + bias, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(b, n, c)
    return attn.proj(out)


@pytest.mark.parametrize('bias_shape', [(HEADS, 17, 17), (2, HEADS, 17, 17)])
def test_fused_attention_equals_explicit_softmax_with_bias(bias_shape):
    torch.manual_seed(0)
    attn = randomize_(Attention(DIMS, HEADS))
    x = torch.randn(2, 17, DIMS)
    bias = torch.randn(bias_shape) * 2
    with torch.no_grad():
        torch.testing.assert_close(attn(x, bias), explicit_attention(attn, x, bias),
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(attn(x), explicit_attention(attn, x, torch.zeros(1)),
                                   atol=1e-5, rtol=1e-5)


def _pair(shared: bool, layer_scale: float, out_type: str, final_norm: bool,
          abs_pos: bool = False, out_indices=(-1,), pretrain: bool = False, bias='qv_bias'):
    """An mmpretrain model with random weights and the mmbeit twin built from its state dict."""
    common = dict(arch=MMPRETRAIN_TINY, img_size=IMG, patch_size=PATCH,
                  out_indices=list(out_indices), out_type=out_type, final_norm=final_norm,
                  use_abs_pos_emb=abs_pos, use_rel_pos_bias=not shared,
                  use_shared_rel_pos_bias=shared, layer_scale_init_value=layer_scale)
    theirs = BEiTPretrainViT(**common) if pretrain else MMPretrainBEiTViT(**common, bias=bias)
    randomize_(theirs)
    ours = BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH, out_indices=list(out_indices),
                   out_type=out_type, final_norm=final_norm,
                   pos_embed='learned' if abs_pos else None, use_rel_pos_bias=not shared,
                   use_shared_rel_pos_bias=shared, layer_scale_init_value=layer_scale,
                   with_mask_token=pretrain, avg_token_norm=out_type == 'avg_featmap').eval()
    load_state_dict_report(ours, convert_mmpretrain_beit(theirs.state_dict()),
                           source='converted mmpretrain state dict')
    return theirs, ours


@pytest.mark.parametrize('shared,layer_scale,out_type,final_norm,abs_pos,out_indices', [
    (False, 0.1, 'avg_featmap', False, False, (-1,)),  # mmpretrain's fine-tuning default
    (True, 0.0, 'raw', True, True, (1, 2)),
    (False, 0.1, 'featmap', True, False, (0, 2)),
    (True, 0.1, 'cls_token', True, False, (-1,)),
])
def test_matches_mmpretrain_beit_vit(shared, layer_scale, out_type, final_norm, abs_pos,
                                     out_indices):
    theirs, ours = _pair(shared, layer_scale, out_type, final_norm, abs_pos, out_indices)
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert len(got) == len(expected) == len(out_indices)
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_matches_mmpretrain_with_full_qkv_bias():
    """bias=True checkpoints: the k bias is dropped by the converter, outputs unchanged."""
    theirs, ours = _pair(False, 0.1, 'raw', True, bias=True)
    qkv_bias = theirs.layers[0].attn.qkv.bias.detach()
    assert qkv_bias[DIMS:2 * DIMS].abs().min() > 0  # a k bias that the converter drops
    torch.testing.assert_close(ours.blocks[0].attn.q_bias.detach(), qkv_bias[:DIMS])
    torch.testing.assert_close(ours.blocks[0].attn.v_bias.detach(), qkv_bias[2 * DIMS:])
    x = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('shared', [True, False])
def test_matches_mmpretrain_beit_pretrain_vit_with_mask(shared):
    theirs, ours = _pair(shared, 0.1, 'raw', True, out_indices=(1, 2), pretrain=True)
    x = torch.randn(2, 3, IMG, IMG)
    mask = torch.rand(2, 4, 4) < 0.4
    with torch.no_grad():
        for e, g in zip(theirs(x, mask), ours(x, mask)):
            torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)
        for e, g in zip(theirs(x, None), ours(x)):
            torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('shared', [True, False])
def test_reverse_conversion_loads_strictly_into_mmpretrain(shared):
    _, ours = _pair(shared, 0.1, 'raw', True, out_indices=(1, 2), pretrain=True)
    back = BEiTPretrainViT(arch=MMPRETRAIN_TINY, img_size=IMG, patch_size=PATCH,
                           out_indices=[1, 2], use_rel_pos_bias=not shared,
                           use_shared_rel_pos_bias=shared)
    back.eval()
    back.load_state_dict(convert_mmbeit_to_mmpretrain(ours.state_dict()), strict=True)
    x, mask = torch.randn(1, 3, IMG, IMG), torch.rand(1, 4, 4) < 0.5
    with torch.no_grad():
        for e, g in zip(back(x, mask), ours(x, mask)):
            torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def _offset_table(grid: int, heads: int) -> torch.Tensor:
    """A locality-shaped table (as trained ones are): a smooth bump at offset 0 per head."""
    r = torch.arange(-(grid - 1), grid, dtype=torch.float32)
    dist2 = r[:, None] ** 2 + r[None, :] ** 2
    widths = torch.linspace(2.0, 4.0, heads)
    bump = torch.exp(-dist2[..., None] / (2 * widths ** 2)).reshape(-1, heads)
    return torch.cat([bump, torch.tensor([[0.3] * heads, [-0.2] * heads, [0.7] * heads])])


@pytest.mark.parametrize('shared', [True, False])
def test_relative_position_table_resized_when_loading_other_grid(shared):
    kw = dict(arch=TINY, patch_size=4, use_rel_pos_bias=not shared,
              use_shared_rel_pos_bias=shared)
    small = BEiTViT(img_size=56, **kw)  # 14 x 14 grid, (27 * 27 + 3) rows
    with torch.no_grad():
        for m in small.modules():
            if isinstance(m, RelativePositionBias):
                m.relative_position_bias_table.copy_(_offset_table(14, HEADS))
    big = BEiTViT(img_size=64, **kw)  # 16 x 16 grid, (31 * 31 + 3) rows
    load_state_dict_report(big, small.state_dict(), source='14x14 checkpoint')
    tables = [m.relative_position_bias_table for m in big.modules()
              if isinstance(m, RelativePositionBias)]
    assert len(tables) == (1 if shared else LAYERS)
    for table in tables:
        assert table.shape == (31 * 31 + 3, HEADS)
        torch.testing.assert_close(table[-3:], _offset_table(14, HEADS)[-3:])  # CLS rows
        grid = table[:-3].reshape(31, 31, HEADS)
        src = _offset_table(14, HEADS)[:-3].reshape(27, 27, HEADS)
        # offsets within +-3 exist in both grids and carry the locality: approximately kept
        # (plain rescaling of the offset axis would miss by up to 0.12 here)
        near_dst, near_src = grid[15 - 3:15 + 4, 15 - 3:15 + 4], src[13 - 3:13 + 4, 13 - 3:13 + 4]
        assert (near_dst - near_src).abs().max() < 0.03
        assert (grid[15, 15] - src[13, 13]).abs().max() < 1e-5  # offset 0 exactly
    # the bias the 16 x 16 model adds to its attention logits keeps the checkpoint's values
    # where they are defined on both grids: offset 0 (the bump's peak, 1) and the CLS rows
    for m in big.modules():
        if isinstance(m, RelativePositionBias):
            with torch.no_grad():
                bias = m()
            assert bias.shape == (HEADS, 257, 257)
            torch.testing.assert_close(bias[:, 1:, 1:].diagonal(dim1=1, dim2=2),
                                       torch.ones(HEADS, 256), atol=1e-5, rtol=0)
            assert torch.all(bias[:, 0, 1:] == 0.3)  # CLS -> patches
            assert torch.all(bias[:, 1:, 0] == -0.2)  # patches -> CLS
            assert torch.all(bias[:, 0, 0] == 0.7)  # CLS -> CLS
    assert big(torch.randn(1, 3, 64, 64))[0].shape == (1, 257, DIMS)


@pytest.mark.parametrize('out_type,shape', [
    ('raw', (2, 17, DIMS)), ('cls_token', (2, DIMS)), ('featmap', (2, DIMS, 4, 4)),
    ('avg_featmap', (2, DIMS))])
def test_out_type_shapes(out_type, shape):
    model = BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH, out_indices=(0, -1),
                    out_type=out_type, avg_token_norm=out_type == 'avg_featmap')
    outs = model(torch.randn(2, 3, IMG, IMG))
    assert len(outs) == 2 and all(o.shape == shape for o in outs)


def test_mask_token_replaces_exactly_the_masked_patches():
    model = randomize_(BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH, with_mask_token=True))
    x = torch.randn(2, 3, IMG, IMG)
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[0, 1, 2] = mask[1, 3, 0] = mask[1, 0, 0] = True
    with torch.no_grad():
        plain, masked = model.embed(x)[:, 1:], model.embed(x, mask)[:, 1:]
    flat = mask.flatten(1)
    torch.testing.assert_close(masked[flat], model.mask_token[0].expand(3, -1))
    torch.testing.assert_close(masked[~flat], plain[~flat])
    with pytest.raises(ValueError, match='cells per image'):
        model.embed(x, torch.zeros(2, 9, dtype=torch.bool))
    with pytest.raises(ValueError, match='no mask token'):
        BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH)(x, mask)


def test_bf16_autocast_on_cpu_close_to_fp32():
    model = randomize_(BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH, with_mask_token=True,
                               use_rel_pos_bias=True, use_shared_rel_pos_bias=False))
    x, mask = torch.randn(2, 3, IMG, IMG), torch.rand(2, 4, 4) < 0.4
    dtypes = []
    model.blocks[1].attn.proj.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with torch.no_grad():
        ref = model(x, mask)[0]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model(x, mask)[0]
    assert dtypes == [torch.float32, torch.bfloat16]  # the matmuls ran in bf16
    rel = (low.float() - ref).norm() / ref.norm()
    assert rel < 0.03, f'bf16 relative error {rel:.4f}'


def test_get_layer_depth_for_layer_wise_lr_decay():
    model = BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH, with_mask_token=True)
    total = LAYERS + 2
    cases = {'backbone.cls_token': 0, 'backbone.mask_token': 0,
             'backbone.patch_embed.proj.weight': 0, 'backbone.blocks.0.attn.qkv.weight': 1,
             'backbone.blocks.2.gamma_2': 3, 'backbone.norm.weight': total - 1,
             # BEiT's fine-tuning code: the shared bias gets the full lr, like the head
             'backbone.rel_pos_bias.relative_position_bias_table': total - 1,
             'head.fc.weight': total - 1}
    for name, depth in cases.items():
        assert model.get_layer_depth(name, prefix='backbone.') == (depth, total), name


@pytest.mark.parametrize('edit,message', [
    (lambda sd: sd.pop('blocks.1.mlp.fc1.weight'), 'missing keys .*blocks.1.mlp.fc1.weight'),
    (lambda sd: sd.__setitem__('blocks.9.gamma_1', torch.ones(DIMS)),
     'unexpected keys .*blocks.9.gamma_1'),
    (lambda sd: sd.__setitem__('blocks.0.attn.proj.weight', torch.ones(DIMS, 2 * DIMS)),
     r'shape of blocks.0.attn.proj.weight: checkpoint \(32, 64\), model \(32, 32\)'),
])
def test_bad_checkpoint_fails_with_a_report(edit, message):
    model = BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH)
    state = BEiTViT(arch=TINY, img_size=IMG, patch_size=PATCH).state_dict()
    edit(state)
    with pytest.raises(StateDictMismatchError, match=message):
        load_state_dict_report(model, state, source='bad.pth')
