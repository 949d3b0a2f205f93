"""Activation checkpointing (``with_cp``): the same loss and gradients, fewer saved tensors."""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import pytest
import torch
from torch import nn

from mmbeit.models.backbones import BEiTViT, MoCoV3ViT
from mmbeit.models.necks import PatchAggregationNeck
from mmbeit.models.tokenizers import VQKDTokenizer

TINY = dict(embed_dims=32, num_layers=3, num_heads=4)


def beit(with_cp: bool) -> nn.Module:
    return BEiTViT(arch=TINY, img_size=32, patch_size=8, drop_rate=0.1, drop_path_rate=0.2,
                   layer_scale_init_value=0.1, with_mask_token=True, with_cp=with_cp)


def mocov3(with_cp: bool) -> nn.Module:
    return MoCoV3ViT(arch=TINY, img_size=32, patch_size=8, drop_path_rate=0.2, with_cp=with_cp)


def vqkd(with_cp: bool) -> nn.Module:
    return VQKDTokenizer(encoder=dict(arch=TINY, img_size=32, patch_size=8,
                                      drop_path_rate=0.2, with_cp=with_cp),
                         num_tokens=16, code_dims=8, target_dims=12,
                         decoder=dict(TINY, num_layers=2, with_cp=with_cp),
                         quantizer=dict(kmeans_init=False))


def neck(with_cp: bool) -> nn.Module:
    return PatchAggregationNeck(32, 4, num_layers=2, early_layers=1, drop_rate=0.1,
                                with_cp=with_cp)


def neck_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    tokens = x.flatten(1)[:, :17 * 32].reshape(-1, 17, 32)  # (B, 1 + 16, C)
    final, aggregated = model({0: tokens, 1: tokens.flip(1)})
    return final.square().mean() + aggregated.square().mean()


def beit_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    mask = torch.zeros(x.shape[0], 16, dtype=torch.bool)
    mask[:, ::3] = True
    return model(x, mask)[0].square().mean()


def vqkd_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model.reconstruct(x)['features'].square().mean()


def plain_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)[0].square().mean()


CASES = [(beit, beit_loss), (mocov3, plain_loss), (vqkd, vqkd_loss), (neck, neck_loss)]


def run(build: Callable[[bool], nn.Module], loss_fn: Callable, with_cp: bool,
        autocast: bool = False) -> Tuple[float, Dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = build(with_cp)
    model.init_weights()
    model.train()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # the same dropout / drop-path draws in both runs
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        loss = loss_fn(model, x)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


@pytest.mark.parametrize('build,loss_fn', CASES, ids=['beit', 'mocov3', 'vqkd', 'neck'])
@pytest.mark.parametrize('autocast', [False, True], ids=['fp32', 'bf16'])
def test_checkpointing_gives_same_loss_and_grads(build, loss_fn, autocast):
    loss, grads = run(build, loss_fn, with_cp=False, autocast=autocast)
    loss_cp, grads_cp = run(build, loss_fn, with_cp=True, autocast=autocast)
    assert loss_cp == loss
    # every trainable parameter gets its gradient, with and without checkpointing
    trainable = {n for n, p in build(False).named_parameters() if p.requires_grad}
    assert grads_cp.keys() == grads.keys() == trainable
    for name, g in grads.items():
        torch.testing.assert_close(grads_cp[name], g, rtol=0, atol=0, msg=name)


def saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one forward."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        plain_loss(model, x)
    return total


def test_checkpointing_keeps_fewer_activations():
    x = torch.randn(4, 3, 64, 64)
    arch = dict(embed_dims=64, num_layers=6, num_heads=4)
    kept = {}
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = BEiTViT(arch=arch, img_size=64, patch_size=8, with_cp=with_cp).train()
        kept[with_cp] = saved_bytes(model, x)
    assert kept[True] < 0.25 * kept[False], kept
    model.eval()  # no checkpointing outside training: nothing recomputed at inference
    assert saved_bytes(model, x) == kept[False]
