"""Any mmbeit checkpoint (pretraining or fine-tuning) -> a backbone-only checkpoint.

The result loads into mmbeit's ``BEiTViT`` wherever it is used: an mmpretrain classifier, an
mmdet detector or an mmseg segmentor, through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` (written with
``prefix='backbone.'``) or directly as the backbone's state dict (``prefix=''``).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Sequence

import torch

from mmbeit.utils.key_maps import add_prefix, strip_prefix, top_level_names

SHARED_TABLE = 'rel_pos_bias.relative_position_bias_table'
PRETRAINING_ONLY = ('mask_token',)
SHARED_NORM = 'neck.norm.'  # BEiT v2: the final norm lives in PatchAggregationNeck
_BLOCK_INDEX = re.compile(r'^blocks\.(\d+)\.')


def extract_backbone(state_dict: Dict[str, torch.Tensor], source_prefix: str = 'backbone.',
                     drop: Sequence[str] = PRETRAINING_ONLY,
                     unshare_rel_pos_bias: bool = False,
                     keep_shared_norm: bool = True) -> Dict[str, torch.Tensor]:
    """The backbone's tensors of a model state dict, keys relative to the backbone.

    Args:
        state_dict: a model state dict (``backbone.*``, ``neck.*``, ``head.*``,
            ``target_generator.*``, ...).
        source_prefix: where the backbone sits. Defaults to 'backbone.' (the query encoder of
            MoCo v3 too).
        drop: backbone keys used only in pretraining. Defaults to ('mask_token',).
        unshare_rel_pos_bias: copy a shared relative position table into every block
            (``blocks.N.rel_pos_bias.*``), for backbones built with ``use_rel_pos_bias=True``
            as BEiT fine-tunes; a backbone that has a table per block already (a fine-tuned
            one) is kept as it is. Defaults to False.
        keep_shared_norm: BEiT v2 keeps the last layer's final norm in the patch-aggregation
            neck (``neck.norm.*``, shared by both branches); copy it to the backbone's
            ``norm.*`` when the backbone has none, so that ``final_norm=True`` backbones
            (linear probes, the release's feature extractor) get it and do not keep a default
            norm. Backbones with ``final_norm=False`` ignore it. Defaults to True.

    Returns:
        OrderedDict of backbone tensors.
    """
    backbone = strip_prefix(state_dict, source_prefix)
    if not backbone:
        raise KeyError(f'no keys under {source_prefix!r}; the checkpoint has '
                       f'{top_level_names(state_dict)}')
    for key in drop:
        backbone.pop(key, None)
    if keep_shared_norm and not any(k.startswith('norm.') for k in backbone):
        backbone.update(add_prefix(strip_prefix(state_dict, SHARED_NORM), 'norm.'))
    if unshare_rel_pos_bias and not has_layer_tables(backbone):
        backbone = unshare_relative_position_bias(backbone)
    return backbone


def has_layer_tables(backbone: Dict[str, torch.Tensor]) -> bool:
    """Whether the backbone has a relative position table per block (and no shared one)."""
    return SHARED_TABLE not in backbone and any(
        k.endswith('.' + SHARED_TABLE) and _BLOCK_INDEX.match(k) for k in backbone)


def unshare_relative_position_bias(backbone: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Replace the shared table by a copy in each block (BEiT's fine-tuning initialisation)."""
    if SHARED_TABLE not in backbone:
        raise KeyError(f'no shared {SHARED_TABLE!r} to unshare: this backbone has no relative '
                       'position bias (MoCo v3 / VQ-KD ViTs use absolute embeddings); leave '
                       '--unshare-rel-pos-bias out. Its keys start with '
                       f'{sorted({k.split(".")[0] for k in backbone})}')
    table = backbone.pop(SHARED_TABLE)
    indices = sorted({int(m.group(1)) for k in backbone if (m := _BLOCK_INDEX.match(k))})
    if not indices:
        raise KeyError('no blocks.N keys found to receive the relative position table')
    out = OrderedDict(backbone)
    for i in indices:
        out[f'blocks.{i}.{SHARED_TABLE}'] = table.clone()
    return out
