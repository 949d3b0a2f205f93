"""Helpers of the parity tests: seeded random weights in a reference model, relative error."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def randomize_(module: nn.Module, seed: int = 0, scale: float = 0.2) -> nn.Module:
    """Every parameter ~ N(0, scale) (norm weights ~ 1 + N(0, scale)), seeded; returns module.

    Random norm scales, biases, layer scales and position tables make any key that lands in
    the wrong place (or not at all) change the outputs.
    """
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        noise = torch.randn(p.shape, generator=g, dtype=torch.float32) * scale
        is_norm_weight = name.endswith('weight') and p.ndim == 1
        p.copy_((1 + noise) if is_norm_weight else noise)
    return module


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """||got - want|| / ||want|| in float64."""
    got, want = got.detach().double(), want.detach().double()
    assert got.shape == want.shape, (tuple(got.shape), tuple(want.shape))
    return float((got - want).norm() / want.norm().clamp_min(1e-30))


def assert_parity(got: torch.Tensor, want: torch.Tensor, tol: float = 1e-5) -> None:
    err = rel_err(got, want)
    assert err <= tol, f'relative error {err:.3g} > {tol:g}'
