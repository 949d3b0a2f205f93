"""The one pooling contract: exact values, refusals that name what to change."""
from __future__ import annotations

import pytest
import torch

from mmbeit.models.backbones import BEiTViT
from mmbeit.models.necks import ClsPatchPoolNeck
from mmbeit.models.utils.pooling import (
    check_backbone_pooling,
    patch_tokens,
    pool_features,
    pool_tokens,
)

TOKENS = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)  # (B, 1 + 3 patches, C)


def test_pooling_values():
    assert torch.equal(pool_tokens(TOKENS, 'cls'), TOKENS[:, 0])
    mean = TOKENS[:, 1:].sum(1) / 3
    torch.testing.assert_close(pool_tokens(TOKENS, 'mean_patch'), mean)
    torch.testing.assert_close(pool_tokens(TOKENS, 'cls_mean_patch'),
                               torch.cat([TOKENS[:, 0], mean], dim=1))
    assert torch.equal(patch_tokens(TOKENS, 2), TOKENS[:, 2:])
    fmap = torch.randn(2, 5, 3, 3)
    torch.testing.assert_close(pool_features((fmap,), 'mean_patch'), fmap.mean((2, 3)))
    vec = torch.randn(2, 7)
    assert pool_features([TOKENS, vec], 'cls') is vec  # last output, already a vector


def test_refusals_name_the_fix():
    with pytest.raises(ValueError, match="pooling must be one of .*got 'avg'"):
        pool_tokens(TOKENS, 'avg')
    with pytest.raises(ValueError, match="has no CLS token: use pooling='mean_patch'"):
        pool_features(torch.randn(2, 5, 3, 3), 'cls')
    vit = BEiTViT(arch=dict(embed_dims=16, num_layers=1, num_heads=2), img_size=16,
                  patch_size=8, out_type='cls_token')
    check_backbone_pooling(vit, 'cls')
    with pytest.raises(ValueError, match="out_type='cls_token' gives pooling 'cls'.*"
                                         "out_type='raw'"):
        check_backbone_pooling(vit, 'mean_patch')


def test_backbone_out_types_and_neck_follow_the_contract():
    """BEiTViT's pooled out_types and the linear-probe neck are the contract's poolings."""
    kw = dict(arch=dict(embed_dims=16, num_layers=1, num_heads=2), img_size=16, patch_size=8)
    torch.manual_seed(0)
    raw = BEiTViT(out_type='raw', **kw).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        tokens = raw(x)[0]
        for out_type, pooling in (('cls_token', 'cls'), ('avg_featmap', 'mean_patch')):
            pooled = BEiTViT(out_type=out_type, **kw).eval()
            pooled.load_state_dict(raw.state_dict(), strict=False)
            torch.testing.assert_close(pooled(x)[0], pool_tokens(tokens, pooling))
        neck = ClsPatchPoolNeck(16, norm=False)
        assert neck.pooling == 'cls_mean_patch'
        torch.testing.assert_close(neck((tokens,))[0], pool_tokens(tokens, 'cls_mean_patch'))
        assert ClsPatchPoolNeck(16, use_cls_token=False).pooling == 'mean_patch'
