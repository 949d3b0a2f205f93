"""Patch-aggregation neck: the BEiT v2 computation, and its checks against the backbone."""
import pytest
import torch

from mmbeit.models.backbones import BEiTViT
from mmbeit.models.necks import PatchAggregationNeck

ARCH = dict(embed_dims=16, num_layers=4, num_heads=2)


def _backbone(**kwargs):
    cfg = dict(arch=ARCH, img_size=16, patch_size=4, with_mask_token=True, final_norm=False,
               out_indices=[2, 3])
    cfg.update(kwargs)
    return BEiTViT(**cfg).eval()


def _neck(**kwargs):
    cfg = dict(embed_dims=16, num_heads=2, num_layers=2, early_layers=3)
    cfg.update(kwargs)
    return PatchAggregationNeck(**cfg).eval()


def test_neck_aggregates_final_cls_with_early_patch_tokens():
    torch.manual_seed(0)
    backbone, neck = _backbone(), _neck()
    neck.check_backbone(backbone)
    x = torch.randn(2, 3, 16, 16)
    tokens = backbone.forward_tokens(x)
    bias = backbone.rel_pos_bias()
    final, agg = neck(tokens, bias)
    # the reference computation written out
    ref = torch.cat([tokens[3][:, :1], tokens[2][:, 1:]], dim=1)
    for blk in neck.blocks:
        ref = blk(ref, bias)
    assert torch.allclose(final, neck.norm(tokens[3])[:, 1:], atol=1e-6)
    assert torch.allclose(agg, neck.norm(ref)[:, 1:], atol=1e-6)
    # the aggregation branch depends on the final CLS token, not on the final patch tokens
    tokens2 = {2: tokens[2], 3: tokens[3].clone()}
    tokens2[3][:, 1:] += torch.randn_like(tokens2[3][:, 1:])
    assert torch.allclose(neck(tokens2, bias)[1], agg)
    tokens2[3][:, 0] += torch.randn_like(tokens2[3][:, 0])
    assert not torch.allclose(neck(tokens2, bias)[1], agg)


def test_neck_masked_index_returns_only_selected_tokens():
    torch.manual_seed(0)
    backbone, neck = _backbone(), _neck()
    tokens = backbone.forward_tokens(torch.randn(2, 3, 16, 16))
    full_final, full_agg = neck(tokens)
    index = torch.tensor([1, 5, 17 + 2, 17 + 16])  # token ids in (B*(1+N)), CLS at 0 and 17
    final, agg = neck(tokens, masked_index=index)
    patch = torch.tensor([0, 4, 16 + 1, 16 + 15])
    assert torch.allclose(final, full_final.reshape(-1, 16)[patch], atol=1e-6)
    assert torch.allclose(agg, full_agg.reshape(-1, 16)[patch], atol=1e-6)


def test_neck_masked_rows_with_row_restricted_backbone_equal_masked_index():
    torch.manual_seed(0)
    backbone, neck = _backbone(), _neck()
    x = torch.randn(2, 3, 16, 16)
    rows = torch.tensor([[1, 5, 9], [2, 3, 16]])  # 3 masked tokens per image (CLS = 0)
    bias = backbone.rel_pos_bias()
    full = neck(backbone.forward_tokens(x), bias,
                masked_index=(rows + torch.tensor([[0], [17]])).flatten())
    last_rows = torch.cat([torch.zeros(2, 1, dtype=torch.long), rows], dim=1)
    tokens = backbone.forward_tokens(x, last_rows=last_rows)
    assert tokens[3].shape == (2, 4, 16) and tokens[2].shape == (2, 17, 16)
    part = neck(tokens, bias, masked_rows=rows)
    for got, want in zip(part, full):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='pass last_rows to forward_tokens'):
        neck(backbone.forward_tokens(x), bias, masked_rows=rows)
    with pytest.raises(ValueError, match='not both'):
        neck(tokens, bias, masked_index=rows.flatten(), masked_rows=rows)


def test_check_backbone_names_the_setting_when_early_layer_missing():
    neck = _neck(early_layers=2)
    with pytest.raises(ValueError, match=r'backbone.out_indices=\[1, 3\]'):
        neck.check_backbone(_backbone(out_indices=[2, 3]))


def test_check_backbone_requires_last_block_and_no_final_norm():
    with pytest.raises(ValueError, match='out_indices'):
        _neck().check_backbone(_backbone(out_indices=[2]))
    with pytest.raises(ValueError, match='final_norm=False'):
        _neck().check_backbone(_backbone(final_norm=True))
    with pytest.raises(ValueError, match='below the backbone depth'):
        _neck(early_layers=4).check_backbone(_backbone(out_indices=[3]))


def test_forward_fails_clearly_without_the_early_block():
    neck = _neck()
    with pytest.raises(KeyError, match='needs block 2'):
        neck({3: torch.zeros(1, 17, 16)})


def test_drop_path_follows_backbone_schedule():
    neck = _neck(drop_path_rate=0.3, early_layers=3)
    neck.check_backbone(_backbone())
    rates = torch.linspace(0, 0.3, 5).tolist()  # max(depth 4, 3 + 2 blocks)
    assert [b.drop_path.drop_prob for b in neck.blocks] == pytest.approx(rates[3:5])


def test_per_layer_rel_pos_bias_is_learned():
    neck = _neck(use_rel_pos_bias=True, window_size=(4, 4))
    tables = [b.rel_pos_bias.relative_position_bias_table for b in neck.blocks]
    # one trainable (2*4 - 1)^2 + 3 offsets x 2 heads table per block, each its own
    assert [tuple(t.shape) for t in tables] == [(7 * 7 + 3, 2)] * 2
    assert all(t.requires_grad for t in tables) and tables[0] is not tables[1]
    names = {n for n, _ in neck.named_parameters()}
    assert {f'blocks.{i}.rel_pos_bias.relative_position_bias_table' for i in range(2)} <= names
    with pytest.raises(ValueError, match='window_size'):
        _neck(use_rel_pos_bias=True)
