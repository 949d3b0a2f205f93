"""Frozen modules under autocast, without re-casting their weights every step.

Autocast casts each fp32 ``nn.Linear`` / conv weight (and bias) to the compute dtype at every
call. For a frozen tokenizer or teacher these casts give the same tensors every step (~7 ms,
0.7 %, of a 1 s CPU BEiT v2 ViT-B step once malloc reuses memory, ``mmbeit.utils.cpu_malloc``;
before that the fresh pages made them ~7 %). :class:`AutocastWeights` keeps one copy of the
module whose linear / conv weights are already in the autocast dtype: autocast then finds
bf16 / fp16 weights and casts nothing, and the outputs are bit-identical (the same rounded
weights meet the same kernels). Norms, codebooks and other tensors stay fp32, as autocast reads
them. A module with its own parameter names (DALL-E's convs) casts itself in
``cast_for_autocast(dtype)``; a module that runs with autocast off sets ``autocast_fp32 = True``
and is kept (with its children).

The copy is not a submodule (``state_dict``, ``parameters()``, DDP and ``.to()`` see the fp32
original only). It is remade when autocast's dtype or the device changes, or when any of the
original's tensors is written in place (``load_state_dict``, ``init_weights`` bump their
versions). It costs its own memory (172 MB for a ViT-B), which is why BEiT / VQKD use it only
with ``frozen_cast_once=True``.
"""
from __future__ import annotations

import copy
from typing import Optional, Tuple

import torch
from torch import nn

CAST_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast casts to on ``device_type``, None when autocast is off there."""
    if not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


class AutocastWeights:
    """``cache.get(module, device_type)``: ``module`` itself without autocast, else its copy
    with linear / conv weights in the autocast dtype (made once)."""

    def __init__(self) -> None:
        self._copy: Optional[nn.Module] = None
        self._key: Optional[Tuple] = None

    @staticmethod
    def _state_key(module: nn.Module, dtype: torch.dtype) -> Tuple:
        tensors = [*module.parameters(), *module.buffers()]
        device = tensors[0].device if tensors else None
        return (dtype, device, tuple(id(t) for t in tensors),
                tuple(t._version for t in tensors))

    def get(self, module: nn.Module, device_type: str) -> nn.Module:
        dtype = autocast_dtype(device_type)
        if dtype is None:
            return module
        key = self._state_key(module, dtype)
        if key != self._key:
            self._copy = self._cast_copy(module, dtype)
            self._key = key
        return self._copy

    @staticmethod
    def _cast_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
        with torch.no_grad():
            out = copy.deepcopy(module)
            keep = [m for m in out.modules() if getattr(m, 'autocast_fp32', False)]
            kept = {id(s) for m in keep for s in m.modules()}
            for sub in out.modules():
                if id(sub) in kept:
                    continue
                if hasattr(sub, 'cast_for_autocast'):  # a module with its own rule
                    sub.cast_for_autocast(dtype)
                elif isinstance(sub, CAST_TYPES):
                    sub.to(dtype)
        return out.requires_grad_(False).train(module.training)

    def __deepcopy__(self, memo) -> AutocastWeights:
        return AutocastWeights()  # a copied model makes its own cast copy
