"""VQ-KD tokenizer checkpoints in three layouts <-> mmbeit's :class:`VQKDTokenizer` keys.

Layouts (detected from the keys, after an optional ``tokenizer.`` / ``target_generator.`` /
``module.`` prefix and a ``state_dict`` / ``model`` wrapper):

- ``mmbeit``: ``encoder.*`` and ``decoder.*`` (:class:`~mmbeit.models.BEiTViT`: ``blocks.N.{norm1,
  attn.qkv.weight, attn.q_bias, attn.v_bias, attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``),
  ``encode_task_layer.{0,2}``, ``decode_task_layer.{0,2}``, ``quantize.embedding.{weight,
  initted}``, ``quantize.cluster_size`` and the statistics buffers. An mmbeit ``VQKD`` training
  checkpoint holds them under ``tokenizer.``.
- ``unilm``: the official beit2 release (``{'model': ...}``): the same names except the final
  norm, ``encoder.fc_norm`` / ``decoder.fc_norm`` (``use_mean_pooling``), and the quantizer's
  ``quantize.embedding.{weight, cluster_size, embed_avg, initted}`` + ``quantize.cluster_size``;
  training checkpoints also hold ``teacher_model.*``, ``scaling_layer.*`` (ignored).
- ``mmpretrain``: mmpretrain 1.2's ``VQKD`` target generator (encoder only):
  ``encoder.{cls_token, pos_embed, patch_embed.projection, layers.N.{ln1, attn.qkv.weight,
  attn.q_bias, attn.v_bias, attn.proj, ln2, ffn.layers.0.0, ffn.layers.1}, ln1}``,
  ``quantize.{cluster_size, embedding.weight, embedding.initted}``, ``encode_task_layer.{0,2}``;
  a whole mmpretrain BEiT v2 checkpoint holds them under ``target_generator.``.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

from mmbeit.utils.checkpoint import get_state_dict
from mmbeit.utils.key_maps import (
    mmbeit_vit_key_to_mmpretrain,
    mmpretrain_vit_key_to_mmbeit,
    rename_key,
    strip_prefix,
)

from ..backbones.beit_vit import ARCH_SETTINGS
from .quantizer import STAT_BUFFERS

LAYOUTS = ('mmbeit', 'unilm', 'mmpretrain')
PREFIXES = ('module.', 'tokenizer.', 'target_generator.')
# (mmbeit, unilm): the official VQ-KD ViTs call their final norm fc_norm (use_mean_pooling)
UNILM_VQKD_KEYS = (('encoder.norm.', 'encoder.fc_norm.'), ('decoder.norm.', 'decoder.fc_norm.'))
# unilm keys that no tokenizer uses: the teacher, its input scaling, unused EMA buffers
_UNILM_IGNORED = ('teacher_model.', 'scaling_layer.', 'loss', 'quantize.embedding.cluster_size',
                  'quantize.embedding.embed_avg')


def strip_tokenizer_prefix(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove wrapper prefixes (``module.``, ``tokenizer.``, ``target_generator.``).

    A prefix is removed when some key ``{prefix}encoder.`` exists; keys outside it (a BEiT v2
    backbone, a VQ-KD teacher) are dropped.
    """
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if any(k.startswith(prefix + 'encoder.') or k.startswith(prefix + 'tokenizer.')
                   or k.startswith(prefix + 'target_generator.') for k in state_dict):
                state_dict = strip_prefix(state_dict, prefix)
                changed = True
    return state_dict


def detect_vqkd_layout(state_dict: Dict[str, torch.Tensor]) -> str:
    """'mmbeit', 'unilm' or 'mmpretrain' for an unprefixed VQ-KD state dict."""
    keys = set(state_dict)
    if 'encoder.patch_embed.projection.weight' in keys or any(
            k.startswith('encoder.layers.') for k in keys):
        return 'mmpretrain'
    if 'encoder.patch_embed.proj.weight' not in keys:
        sample = ', '.join(sorted(keys)[:8])
        raise KeyError('not a VQ-KD checkpoint: no encoder.patch_embed.proj.weight '
                       f'(mmbeit / unilm) or encoder.patch_embed.projection.weight '
                       f'(mmpretrain); first keys: {sample}')
    if 'encoder.fc_norm.weight' in keys or 'quantize.embedding.embed_avg' in keys:
        return 'unilm'
    return 'mmbeit'


# ---------------------------------------------------------------------------- unilm
def unilm_to_mmbeit(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official beit2 VQ-KD keys -> mmbeit keys (``fc_norm`` -> ``norm``, unused keys out)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(_UNILM_IGNORED):
            continue
        out[rename_key(key, UNILM_VQKD_KEYS, reverse=True)] = value
    return out


def mmbeit_to_unilm(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmbeit tokenizer keys -> the official beit2 release keys (for export)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('quantize.') and key.split('.', 1)[1] in STAT_BUFFERS:
            continue
        out[rename_key(key, UNILM_VQKD_KEYS)] = value
    if 'quantize.embedding.weight' in out:  # unused by the official code, present in its files
        weight = out['quantize.embedding.weight']
        out['quantize.embedding.cluster_size'] = torch.zeros(weight.shape[0])
        out['quantize.embedding.embed_avg'] = weight.clone()
    return out


# ---------------------------------------------------------------------------- mmpretrain
def mmpretrain_to_mmbeit(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmpretrain ``VQKD`` keys -> mmbeit keys (encoder, quantizer, encode_task_layer)."""
    return OrderedDict(
        ('encoder.' + mmpretrain_vit_key_to_mmbeit(k[len('encoder.'):])
         if k.startswith('encoder.') else k, v) for k, v in state_dict.items())


def mmbeit_to_mmpretrain(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """mmbeit tokenizer keys -> mmpretrain ``VQKD`` keys (the decoder is dropped)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(('decoder.', 'decode_task_layer.')):
            continue
        if key.startswith('quantize.') and key.split('.', 1)[1] in STAT_BUFFERS:
            continue
        if key.startswith('encoder.'):
            key = 'encoder.' + mmbeit_vit_key_to_mmpretrain(key[len('encoder.'):])
        out[key] = value
    return out


# ---------------------------------------------------------------------------- entry points
def convert_vqkd_state_dict(checkpoint: dict) -> Tuple[Dict[str, torch.Tensor], str]:
    """Any of the three layouts (loaded checkpoint or state dict) -> (mmbeit keys, layout)."""
    state_dict = strip_tokenizer_prefix(get_state_dict(checkpoint))
    layout = detect_vqkd_layout(state_dict)
    if layout == 'unilm':
        state_dict = unilm_to_mmbeit(state_dict)
    elif layout == 'mmpretrain':
        state_dict = mmpretrain_to_mmbeit(state_dict)
    return state_dict, layout


_UNILM_VQKD_NAME = re.compile(r'vqkd_encoder_(base|large)_decoder_(\d+)x(\d+)x(\d+)')


def vqkd_release_arch(checkpoint: dict) -> Dict[str, Dict[str, int]]:
    """Encoder / decoder heads (and decoder size) from an official beit2 checkpoint's
    ``args.model`` (``vqkd_encoder_base_decoder_3x768x12_clip``: decoder of 3 layers, 768 dims,
    12 heads); {} when the file does not record it. No weight shape holds a head count."""
    args = checkpoint.get('args') if isinstance(checkpoint, dict) else None
    match = _UNILM_VQKD_NAME.search(str(getattr(args, 'model', '') or ''))
    if not match:
        return {}
    size, layers, dims, heads = match.groups()
    return dict(encoder=dict(num_heads=int(ARCH_SETTINGS[size]['num_heads'])),
                decoder=dict(num_layers=int(layers), embed_dims=int(dims),
                             num_heads=int(heads)))
