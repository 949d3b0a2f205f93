"""Layer-wise lr decay: lr multipliers per layer and the no-weight-decay groups."""
import math

import pytest
from mmengine.optim import build_optim_wrapper
from torch import nn

import mmbeit.engine  # noqa: F401  (registers the constructor)
from mmbeit.models.backbones import BEiTViT


class _Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, dims: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(dims, 10)


def _build(model, decay=0.65, lr=1e-3, wd=0.05):
    cfg = dict(optimizer=dict(type='AdamW', lr=lr, weight_decay=wd),
               constructor='mmbeit.LayerDecayOptimWrapperConstructor',
               paramwise_cfg=dict(layer_decay_rate=decay))
    return build_optim_wrapper(model, cfg).optimizer


def _group_of(optimizer):
    return {id(p): g for g in optimizer.param_groups for p in g['params']}


def _expected_layer(name: str, depth: int) -> int:
    if name.startswith(('backbone.cls_token', 'backbone.mask_token', 'backbone.patch_embed',
                        'backbone.pos_embed', 'backbone.rel_pos_bias')):
        return 0
    if name.startswith('backbone.blocks.'):
        return int(name.split('.')[2]) + 1
    return depth + 1


def test_lr_multiplier_is_decay_to_depth_minus_layer_id():
    depth, decay, lr = 4, 0.65, 1e-3
    backbone = BEiTViT(arch=dict(embed_dims=16, num_layers=depth, num_heads=2), img_size=16,
                       patch_size=4, with_mask_token=True, pos_embed='learned',
                       use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
                       avg_token_norm=True)
    model = _Classifier(backbone, 16)
    groups = _group_of(_build(model, decay, lr))
    seen_layers = set()
    for name, p in model.named_parameters():
        layer = _expected_layer(name, depth)
        seen_layers.add(layer)
        assert groups[id(p)]['lr'] == pytest.approx(lr * decay ** (depth + 1 - layer)), name
    assert seen_layers == set(range(depth + 2))


def test_no_weight_decay_on_norms_biases_tokens_tables_and_gammas():
    backbone = BEiTViT(arch=dict(embed_dims=16, num_layers=2, num_heads=2), img_size=16,
                       patch_size=4, with_mask_token=True, pos_embed='learned',
                       use_rel_pos_bias=True, use_shared_rel_pos_bias=False)
    model = _Classifier(backbone, 16)
    groups = _group_of(_build(model, wd=0.05))
    no_decay_parts = ('norm', 'bias', 'cls_token', 'mask_token', 'pos_embed',
                      'relative_position_bias_table', 'gamma_')
    checked = 0
    for name, p in model.named_parameters():
        wd = groups[id(p)]['weight_decay']
        if any(part in name for part in no_decay_parts):
            assert wd == 0.0, name
            checked += 1
        else:
            assert p.ndim >= 2 and wd == 0.05, name
    # per block: 2 x 2 norm, q / v / proj / fc1 / fc2 bias, table, 2 gammas = 12; plus cls /
    # mask token, pos_embed, patch_embed bias, final norm weight and bias, head bias = 7
    assert checked == 2 * 12 + 7


def test_mmpretrain_vit_names_and_frozen_params_are_handled():
    from mmpretrain.models import VisionTransformer

    vit = VisionTransformer(arch=dict(embed_dims=16, num_layers=3, num_heads=2,
                                      feedforward_channels=32), img_size=16, patch_size=4)
    vit.patch_embed.requires_grad_(False)
    model = _Classifier(vit, 16)
    opt = _build(model, decay=0.5, lr=1.0)
    groups = _group_of(opt)
    assert all(id(p) not in groups for p in vit.patch_embed.parameters())
    assert groups[id(vit.layers[0].ffn.layers[0][0].weight)]['lr'] == pytest.approx(0.5 ** 3)
    assert groups[id(vit.layers[2].ffn.layers[0][0].weight)]['lr'] == pytest.approx(0.5)
    assert groups[id(model.head.weight)]['lr'] == pytest.approx(1.0)
    assert groups[id(vit.cls_token)]['weight_decay'] == 0.0


def test_missing_decay_rate_is_an_error():
    model = _Classifier(nn.Linear(2, 2), 2)
    with pytest.raises(KeyError, match='layer_decay_rate'):
        build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-3),
                                        constructor='mmbeit.LayerDecayOptimWrapperConstructor',
                                        paramwise_cfg=dict()))


def test_scheduler_keeps_the_layer_ratio():
    from mmengine.optim import CosineAnnealingLR

    backbone = BEiTViT(arch=dict(embed_dims=16, num_layers=2, num_heads=2), img_size=16,
                       patch_size=4)
    optim = _build(_Classifier(backbone, 16), decay=0.5, lr=1.0)
    sched = CosineAnnealingLR(optim, T_max=10, by_epoch=False)
    for _ in range(3):
        optim.step()
        sched.step()
    ratios = {round(g['lr'] / g['initial_lr'], 8) for g in optim.param_groups}
    assert ratios == {round((1 + math.cos(math.pi * 3 / 10)) / 2, 8)}  # cosine after 3 of 10
