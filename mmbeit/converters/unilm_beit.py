"""Official unilm BEiT / BEiT v2 checkpoints (``{'model': ...}``) -> mmbeit model keys.

unilm layout (pretraining, fine-tuning):
``cls_token``, ``mask_token``, ``pos_embed``, ``patch_embed.proj.*``,
``rel_pos_bias.relative_position_{bias_table,index}`` (shared bias),
``blocks.N.{norm1, attn.qkv.weight, attn.q_bias, attn.v_bias,
attn.relative_position_{bias_table,index}, attn.proj, gamma_1, gamma_2, norm2, mlp.fc1, mlp.fc2}``,
``norm``, ``lm_head`` (MIM), ``cls_pt_layers.N.*`` + ``cls_pt_lm_head`` (BEiT v2 patch
aggregation), ``fc_norm`` + ``head`` (fine-tuned classifier).

mmbeit layout: ``backbone.*`` (:class:`~mmbeit.models.BEiTViT`; a per-layer bias table is
``blocks.N.rel_pos_bias.relative_position_bias_table``), ``neck.blocks.N.*`` + ``neck.norm``
(:class:`~mmbeit.models.necks.PatchAggregationNeck`, whose norm is the shared final norm),
``head.lm_head`` / ``head.lm_head_agg`` (MIM heads), ``head.fc`` (mmpretrain ``LinearClsHead``).
The ``relative_position_index`` buffers are recomputed by mmbeit and dropped.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

from mmbeit.models.backbones.beit_vit import ARCH_SETTINGS

from .release_arch import resolve_num_heads

HF_PREFIXES = ('beit.', 'vit.', 'embeddings.', 'encoder.layer.')
_BLOCK_RE = re.compile(r'^(blocks|cls_pt_layers)\.(\d+)\.(.+)$')
_BLOCK_PARTS = ('norm1.', 'norm2.', 'attn.qkv.weight', 'attn.q_bias', 'attn.v_bias', 'attn.proj.',
                'mlp.fc1.', 'mlp.fc2.', 'gamma_1', 'gamma_2')
_DIRECT = {
    'cls_token': 'backbone.cls_token',
    'mask_token': 'backbone.mask_token',
    'pos_embed': 'backbone.pos_embed',
    'patch_embed.proj.weight': 'backbone.patch_embed.proj.weight',
    'patch_embed.proj.bias': 'backbone.patch_embed.proj.bias',
    'rel_pos_bias.relative_position_bias_table':
        'backbone.rel_pos_bias.relative_position_bias_table',
    'fc_norm.weight': 'backbone.fc_norm.weight',
    'fc_norm.bias': 'backbone.fc_norm.bias',
    'head.weight': 'head.fc.weight',
    'head.bias': 'head.fc.bias',
    'lm_head.weight': 'head.lm_head.weight',
    'lm_head.bias': 'head.lm_head.bias',
    'cls_pt_lm_head.weight': 'head.lm_head_agg.weight',
    'cls_pt_lm_head.bias': 'head.lm_head_agg.bias',
}


def _block_key(rest: str) -> Optional[str]:
    """mmbeit name inside a block for the unilm name ``rest``; None for dropped buffers."""
    if rest == 'attn.relative_position_bias_table':
        return 'rel_pos_bias.relative_position_bias_table'
    if rest == 'attn.relative_position_index':
        return None
    if rest.startswith(_BLOCK_PARTS):
        return rest
    raise KeyError(f'unknown key inside a unilm BEiT block: {rest!r}')


def convert_unilm_beit(state_dict: Dict[str, torch.Tensor]
                       ) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Rename a unilm BEiT / BEiT v2 state dict to mmbeit model keys.

    Args:
        state_dict: the ``model`` entry of an official checkpoint (pretrained or fine-tuned).

    Returns:
        (converted state dict with ``backbone.`` / ``neck.`` / ``head.`` keys, dropped keys).

    Raises:
        KeyError: a key of no known layout, or the non-shared aggregation norm
            (``cls_pt_norm``), which mmbeit's neck does not have.
    """
    has_aggregation = any(k.startswith('cls_pt_layers.') for k in state_dict)
    out: Dict[str, torch.Tensor] = OrderedDict()
    dropped: List[str] = []
    unknown: List[str] = []
    for key, value in state_dict.items():
        if key.endswith('relative_position_index'):
            dropped.append(key)
            continue
        if key in _DIRECT:
            out[_DIRECT[key]] = value
            continue
        if key.startswith('norm.'):
            # BEiT v2 shares the final norm between the last layer and the aggregation branch
            out[('neck.' if has_aggregation else 'backbone.') + key] = value
            continue
        match = _BLOCK_RE.match(key)
        if match:
            group, index, rest = match.groups()
            try:
                new = _block_key(rest)
            except KeyError:
                unknown.append(key)
                continue
            owner = 'backbone.blocks.' if group == 'blocks' else 'neck.blocks.'
            out[f'{owner}{index}.{new}'] = value
            continue
        if key.startswith('cls_pt_norm.'):
            raise KeyError('this checkpoint was pretrained with shared_lm_head=False (it has '
                           "its own 'cls_pt_norm'); mmbeit's PatchAggregationNeck shares one "
                           'final norm. Convert the backbone only (--backbone-only).')
        unknown.append(key)
    if unknown:
        hint = ''
        if any(k.startswith(HF_PREFIXES) for k in unknown):
            hint = ('; these are HF transformers keys: convert the model folder with '
                    'tools/model_converters/hf2mmbeit.py')
        raise KeyError(f'keys of no known unilm BEiT layout ({len(unknown)}): '
                       f'{", ".join(unknown[:20])}{hint}')
    return out, dropped


def release_num_heads(checkpoint: dict) -> Optional[int]:
    """Head count from a unilm checkpoint's ``args.model`` ('beit_base_patch16_224_8k_vocab'),
    None when the file does not record it."""
    args = checkpoint.get('args') if isinstance(checkpoint, dict) else None
    return resolve_num_heads(getattr(args, 'model', None), ARCH_SETTINGS)

