"""mmpretrain 1.2 ``BEiTViT`` / ``BEiTPretrainViT`` keys <-> mmbeit ``BEiTViT`` keys.

mmpretrain (``mmpretrain/models/backbones/beit.py``)      mmbeit (unilm / timm layout)
    patch_embed.projection.*                              patch_embed.proj.*
    layers.N.ln1.* / layers.N.ln2.*                       blocks.N.norm1.* / blocks.N.norm2.*
    layers.N.attn.{qkv.weight, q_bias, v_bias, proj.*}    blocks.N.attn.{same}
    layers.N.attn.qkv.bias (bias=True)                    blocks.N.attn.{q_bias, v_bias}
    layers.N.attn.relative_position_bias_table            blocks.N.rel_pos_bias.relative_...
    layers.N.ffn.layers.0.0.* / layers.N.ffn.layers.1.*   blocks.N.mlp.fc1.* / blocks.N.mlp.fc2.*
    layers.N.gamma_1 / gamma_2                            blocks.N.gamma_1 / gamma_2
    ln1.* (final_norm) / ln2.* (avg_featmap norm)         norm.* / fc_norm.*
    cls_token, mask_token, pos_embed, rel_pos_bias.relative_position_bias_table: unchanged
    *.relative_position_index (persistent buffers)        dropped (mmbeit rebuilds them)

The k bias of ``bias=True`` models is dropped: it adds the same logit to every key of a query,
which softmax ignores.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

from mmbeit.models.utils import relative_position_index

from .mocov3_release import split_qkv_bias

StateDict = Dict[str, torch.Tensor]

# (mmpretrain pattern, mmbeit replacement), applied to the key without its backbone prefix
_TO_MMBEIT: List[Tuple[str, str]] = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.attn\.relative_position_bias_table$',
     r'blocks.\1.rel_pos_bias.relative_position_bias_table'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^layers\.(\d+)\.(gamma_[12])$', r'blocks.\1.\2'),
    (r'^ln1\.', 'norm.'),
    (r'^ln2\.', 'fc_norm.'),
]
_TO_MMPRETRAIN: List[Tuple[str, str]] = [
    (r'^patch_embed\.proj\.', 'patch_embed.projection.'),
    (r'^blocks\.(\d+)\.norm1\.', r'layers.\1.ln1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'layers.\1.ln2.'),
    (r'^blocks\.(\d+)\.rel_pos_bias\.relative_position_bias_table$',
     r'layers.\1.attn.relative_position_bias_table'),
    (r'^blocks\.(\d+)\.attn\.', r'layers.\1.attn.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'layers.\1.ffn.layers.0.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'layers.\1.ffn.layers.1.'),
    (r'^blocks\.(\d+)\.(gamma_[12])$', r'layers.\1.\2'),
    (r'^norm\.', 'ln1.'),
    (r'^fc_norm\.', 'ln2.'),
]


def _rename(key: str, rules: List[Tuple[str, str]]) -> str:
    for pattern, replacement in rules:
        new, hits = re.subn(pattern, replacement, key)
        if hits:
            return new
    return key


def _backbone_prefix(state_dict: StateDict) -> str:
    """'backbone.' for algorithm / classifier checkpoints, '' for a bare backbone."""
    return 'backbone.' if any(k.startswith('backbone.') for k in state_dict) else ''


def convert_mmpretrain_beit(state_dict: StateDict) -> StateDict:
    """mmpretrain ``BEiTViT`` / ``BEiTPretrainViT`` keys -> mmbeit ``BEiTViT`` keys.

    Args:
        state_dict: a bare backbone state dict, or a whole model's (keys under ``backbone.``
            are converted and keep that prefix; neck / head / target-generator keys are kept).

    Returns:
        A new ordered dict; ``relative_position_index`` buffers are dropped.
    """
    prefix = _backbone_prefix(state_dict)
    out: StateDict = OrderedDict()
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            out[key] = value
            continue
        name = key[len(prefix):]
        if name.endswith('relative_position_index'):
            continue
        if re.match(r'^layers\.\d+\.attn\.qkv\.bias$', name):
            q_bias, v_bias = split_qkv_bias(value)
            stem = prefix + _rename(name, _TO_MMBEIT)[:-len('qkv.bias')]
            out[stem + 'q_bias'], out[stem + 'v_bias'] = q_bias, v_bias
            continue
        out[prefix + _rename(name, _TO_MMBEIT)] = value
    return out


def convert_mmbeit_to_mmpretrain(state_dict: StateDict) -> StateDict:
    """The reverse: mmbeit ``BEiTViT`` keys -> mmpretrain 1.2 ``BEiTViT`` keys.

    mmpretrain stores ``relative_position_index`` buffers; they are rebuilt here from each
    table's size (square patch grids).
    """
    prefix = _backbone_prefix(state_dict)
    out: StateDict = OrderedDict()
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            out[key] = value
            continue
        new = prefix + _rename(key[len(prefix):], _TO_MMPRETRAIN)
        out[new] = value
        if new.endswith('relative_position_bias_table'):
            side = (math.isqrt(value.shape[0] - 3) + 1) // 2
            if (2 * side - 1) ** 2 + 3 != value.shape[0]:
                raise ValueError(f'{key}: {value.shape[0]} rows is not a square grid\'s table')
            index_key = new[:-len('bias_table')] + 'index'
            out[index_key] = relative_position_index((side, side))
    return out
