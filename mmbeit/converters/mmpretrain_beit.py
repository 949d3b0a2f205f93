"""mmpretrain 1.2 ``BEiTViT`` / ``BEiTPretrainViT`` keys <-> mmbeit ``BEiTViT`` keys.

The key table (written once, read both ways) is
:data:`mmbeit.utils.key_maps.MMPRETRAIN_VIT_KEYS`. mmpretrain's ``bias=True`` models hold one
``layers.N.attn.qkv.bias``, split into mmbeit's ``q_bias`` / ``v_bias``; the
``relative_position_index`` buffers mmpretrain stores are dropped (mmbeit rebuilds them) and
rebuilt on the way back.

The k bias of ``bias=True`` models is dropped: it adds the same logit to every key of a query,
which softmax ignores.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Tuple

import torch

from mmbeit.models.utils import relative_position_index
from mmbeit.utils.key_maps import (
    mmbeit_vit_key_to_mmpretrain,
    mmpretrain_vit_key_to_mmbeit,
    split_qkv_bias,
)

StateDict = Dict[str, torch.Tensor]


Converter = Callable[[str, torch.Tensor], List[Tuple[str, torch.Tensor]]]


def _convert_backbone(state_dict: StateDict, convert: Converter) -> StateDict:
    """Apply ``convert(name, value) -> [(new name, value), ...]`` to the backbone's keys (under
    ``backbone.`` for algorithm / classifier checkpoints, else all); other keys are kept."""
    prefix = 'backbone.' if any(k.startswith('backbone.') for k in state_dict) else ''
    out: StateDict = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(prefix):
            out.update((prefix + k, v) for k, v in convert(key[len(prefix):], value))
        else:
            out[key] = value
    return out


def _from_mmpretrain(name: str, value: torch.Tensor) -> List[Tuple[str, torch.Tensor]]:
    if name.endswith('relative_position_index'):
        return []
    if re.match(r'^layers\.\d+\.attn\.qkv\.bias$', name):
        stem = mmpretrain_vit_key_to_mmbeit(name)[:-len('qkv.bias')]
        q_bias, v_bias = split_qkv_bias(value)
        return [(stem + 'q_bias', q_bias), (stem + 'v_bias', v_bias)]
    return [(mmpretrain_vit_key_to_mmbeit(name), value)]


def _to_mmpretrain(name: str, value: torch.Tensor) -> List[Tuple[str, torch.Tensor]]:
    new = mmbeit_vit_key_to_mmpretrain(name)
    if not new.endswith('relative_position_bias_table'):
        return [(new, value)]
    side = (math.isqrt(value.shape[0] - 3) + 1) // 2
    if (2 * side - 1) ** 2 + 3 != value.shape[0]:
        raise ValueError(f'{name}: {value.shape[0]} rows is not a square grid\'s table')
    return [(new, value),
            (new[:-len('bias_table')] + 'index', relative_position_index((side, side)))]


def convert_mmpretrain_beit(state_dict: StateDict) -> StateDict:
    """mmpretrain ``BEiTViT`` / ``BEiTPretrainViT`` keys -> mmbeit ``BEiTViT`` keys.

    Args:
        state_dict: a bare backbone state dict, or a whole model's (keys under ``backbone.``
            are converted and keep that prefix; neck / head / target-generator keys are kept).

    Returns:
        A new ordered dict; ``relative_position_index`` buffers are dropped.
    """
    return _convert_backbone(state_dict, _from_mmpretrain)


def convert_mmbeit_to_mmpretrain(state_dict: StateDict) -> StateDict:
    """The reverse: mmbeit ``BEiTViT`` keys -> mmpretrain 1.2 ``BEiTViT`` keys.

    mmpretrain stores ``relative_position_index`` buffers; they are rebuilt here from each
    table's size (square patch grids).
    """
    return _convert_backbone(state_dict, _to_mmpretrain)
