"""State-dict key surgery shared by every loader and converter: prefixes and ViT key maps.

Each table is written once and read in both directions.

mmpretrain 1.2 ``BEiTViT`` / ``VQKD`` encoder          mmbeit ``BEiTViT`` (unilm / timm layout)
    patch_embed.projection.*                          patch_embed.proj.*
    layers.N.ln1.* / layers.N.ln2.*                   blocks.N.norm1.* / blocks.N.norm2.*
    layers.N.attn.relative_position_bias_table        blocks.N.rel_pos_bias.relative_..._table
    layers.N.attn.{qkv.weight, q_bias, v_bias, proj}  blocks.N.attn.{same}
    layers.N.ffn.layers.0.0.* / ffn.layers.1.*        blocks.N.mlp.fc1.* / blocks.N.mlp.fc2.*
    layers.N.gamma_1 / gamma_2                        blocks.N.gamma_1 / gamma_2
    ln1.* (final norm) / ln2.* (avg_featmap norm)     norm.* / fc_norm.*

timm ViTs (moco-v3, DINO) use mmbeit's names, except a (3C,) ``qkv.bias`` whose k third mmbeit
does not learn: it adds the same logit to every key of a query, which softmax ignores.
"""
from __future__ import annotations

import functools
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# (mmbeit, mmpretrain) name prefixes; '{i}' is a block index. The first rule that matches wins,
# so a specific name stands before the general one in both directions.
MMPRETRAIN_VIT_KEYS: Tuple[Tuple[str, str], ...] = (
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('blocks.{i}.norm1.', 'layers.{i}.ln1.'),
    ('blocks.{i}.norm2.', 'layers.{i}.ln2.'),
    ('blocks.{i}.rel_pos_bias.relative_position_bias_table',
     'layers.{i}.attn.relative_position_bias_table'),
    ('blocks.{i}.attn.', 'layers.{i}.attn.'),
    ('blocks.{i}.mlp.fc1.', 'layers.{i}.ffn.layers.0.0.'),
    ('blocks.{i}.mlp.fc2.', 'layers.{i}.ffn.layers.1.'),
    ('blocks.{i}.gamma_', 'layers.{i}.gamma_'),
    ('norm.', 'ln1.'),
    ('fc_norm.', 'ln2.'),
)


@functools.cache
def _compile(table: Tuple[Tuple[str, str], ...], reverse: bool
             ) -> List[Tuple[re.Pattern, str]]:
    """The table's rules as (pattern, replacement), compiled once per table and direction."""
    rules = []
    for ours, theirs in table:
        src, dst = (theirs, ours) if reverse else (ours, theirs)
        pattern = '^' + re.escape(src).replace(re.escape('{i}'), r'(\d+)')
        rules.append((re.compile(pattern), dst.replace('{i}', r'\1')))
    return rules


def rename_key(key: str, table: Tuple[Tuple[str, str], ...], reverse: bool = False) -> str:
    """Rename ``key`` by the first matching ``(mmbeit, other)`` prefix rule of ``table`` (a
    tuple of pairs; ``reverse``: other -> mmbeit); a key no rule matches is kept."""
    for pattern, replacement in _compile(table, reverse):
        new, hits = pattern.subn(replacement, key, count=1)
        if hits:
            return new
    return key


def mmbeit_vit_key_to_mmpretrain(key: str) -> str:
    """One backbone key (no prefix), mmbeit -> mmpretrain; unknown names are kept."""
    return rename_key(key, MMPRETRAIN_VIT_KEYS)


def mmpretrain_vit_key_to_mmbeit(key: str) -> str:
    """One backbone key (no prefix), mmpretrain -> mmbeit; unknown names are kept."""
    return rename_key(key, MMPRETRAIN_VIT_KEYS, reverse=True)


def strip_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """The ``prefix`` keys with the prefix removed (other keys dropped); order kept."""
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def add_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Prepend ``prefix`` (e.g. ``'backbone.'``) to every key."""
    return OrderedDict((prefix + k, v) for k, v in state_dict.items())


def top_level_names(state_dict: StateDict) -> List[str]:
    """The distinct first key components with a dot (``['backbone.', 'head.']``), for messages."""
    return sorted({k.split('.', 1)[0] + '.' for k in state_dict})


def split_qkv_bias(bias: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(3C,) timm / mmpretrain qkv bias -> (q_bias, v_bias); the k part is dropped."""
    if bias.ndim != 1 or bias.shape[0] % 3:
        raise ValueError(f'qkv bias must be (3C,), got {tuple(bias.shape)}')
    c = bias.shape[0] // 3
    return bias[:c].clone(), bias[2 * c:].clone()


_TIMM_VIT_KEYS = re.compile(
    r'^(cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
    r'|blocks\.\d+\.(norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)'
    r'|blocks\.\d+\.attn\.qkv\.weight)$')


def convert_timm_vit(vit: StateDict) -> Tuple[StateDict, List[str]]:
    """timm ViT keys -> mmbeit ``BEiTViT`` keys (backbone only) and the non-ViT keys left over."""
    out: StateDict = OrderedDict()
    rest: List[str] = []
    for key, value in vit.items():
        if key.endswith('attn.qkv.bias'):
            stem = key[:-len('qkv.bias')]
            out[stem + 'q_bias'], out[stem + 'v_bias'] = split_qkv_bias(value)
        elif _TIMM_VIT_KEYS.match(key):
            out[key] = value
        else:
            rest.append(key)
    return out, rest
