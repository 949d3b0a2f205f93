"""Helpers of the parity tests: seeded random weights in a reference model, and a parity check
whose bound comes from float64 rather than from a fixed tolerance.

Two fp32 implementations of one network differ by accumulated rounding that depends on the
CPU's kernels (AMX, AVX512, AVX2), the thread count and the order of reductions, so a fixed
bound on ``ours - ref`` passes on one machine and fails on the next. :func:`assert_parity`
instead runs both in float64 too and asserts that

- in float64 the two agree to ``fp64_tol`` (they compute the same function: a transposed
  table, a wrong head split or a missing term shows up as a difference far above it), and
- in float32 ours is as close to the float64 result as the reference package is itself
  (within ``slack`` times the reference's own error, plus ``floor``).
"""
from __future__ import annotations

from typing import Callable, Sequence

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


def _as(dtype: torch.dtype, args: Sequence) -> list:
    return [a.to(dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args]


@torch.no_grad()
def assert_parity(ours: Callable[..., torch.Tensor], ref: Callable[..., torch.Tensor],
                  *args, modules: Sequence[nn.Module], slack: float = 2.0,
                  floor: float = 1e-6, fp64_tol: float = 1e-10,
                  ref_runs_fp64: bool = True) -> None:
    """``ours(*args)`` computes what ``ref(*args)`` does, as closely as fp32 allows.

    Args:
        ours / ref: the two computations (closures over their models).
        *args: their inputs (float tensors are cast to float64 for the float64 run).
        modules: every module the two closures use; cast to float64 for that run and back
            to float32 after it (exact: float32 -> float64 -> float32 loses nothing).
        slack / floor: fp32 bound, ``err(ours) <= slack * err(ref) + floor``, each the
            relative error against the float64 output.
        fp64_tol: bound on the relative difference of the two float64 outputs.
        ref_runs_fp64: False for a reference that refuses float64 (the ``dall_e`` package):
            ours in float64 is then the common yardstick, and the reference's fp32 output
            must lie as close to it as ours does (``err(ref) <= slack * err(ours) + floor``),
            which a real mismatch does not.
    """
    got32, want32 = ours(*args), ref(*args)
    args64 = _as(torch.float64, args)
    try:
        for m in modules:
            m.double()
        got64 = ours(*args64)
        want64 = ref(*args64) if ref_runs_fp64 else got64
    finally:
        for m in modules:
            m.float()
    assert got64.dtype == want64.dtype == torch.float64, (got64.dtype, want64.dtype)
    err64 = rel_err(got64, want64)
    assert err64 <= fp64_tol, f'float64 outputs differ: relative error {err64:.3g} > {fp64_tol:g}'
    err_ours, err_ref = rel_err(got32, want64), rel_err(want32, want64)
    if not ref_runs_fp64:
        err_ours, err_ref = err_ref, err_ours
    assert err_ours <= slack * err_ref + floor, (
        f'fp32 error against float64 {err_ours:.3g} > {slack:g} x {err_ref:.3g} + {floor:g}'
        f' ({"ours vs the reference" if ref_runs_fp64 else "the reference vs ours"})')


def assert_close_rel(got: torch.Tensor, want: torch.Tensor, tol: float) -> None:
    """``rel_err(got, want) <= tol``: for values computed without accumulated rounding
    (tables, element-wise maps), where a fixed bound does not depend on the kernels."""
    err = rel_err(got, want)
    assert err <= tol, f'relative error {err:.3g} > {tol:g}'
