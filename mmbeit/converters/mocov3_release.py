"""The facebookresearch moco-v3 ViT release (``{'state_dict': ...}``) -> mmbeit backbone keys.

Release layout: a DDP-wrapped ``MoCo`` model, ``module.base_encoder.*`` (timm ViT: ``cls_token``,
``pos_embed``, ``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv.{weight,bias}, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``, ``head.{0,1,3,4,6,7}`` = projector MLP), the same under
``module.momentum_encoder.*``, and ``module.predictor.{0,1,3,4}``. The linear-probe /
fine-tuned releases hold the plain timm ViT (optionally under ``module.``) with ``head.{weight,
bias}``.

timm's qkv bias has a k part; mmbeit's attention learns q and v biases only. A k bias adds
``q . b_k`` to every logit of a query, the same for all keys, so softmax removes it: it is
dropped without changing any output.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional

import torch

from mmbeit.models.backbones.mocov3_vit import MOCOV3_ARCH_SETTINGS
from mmbeit.utils.key_maps import convert_timm_vit, strip_prefix

from .release_arch import resolve_num_heads

ENCODERS = ('base_encoder', 'momentum_encoder')


def release_num_heads(checkpoint: dict) -> Optional[int]:
    """Head count from a moco-v3 file's ``arch`` entry ('vit_small' = 12 heads of 32 dims,
    'vit_base' = 12, as ``vits.py`` defines them); None when absent."""
    record = checkpoint.get('arch') if isinstance(checkpoint, dict) else None
    return resolve_num_heads(record if isinstance(record, str) else None, MOCOV3_ARCH_SETTINGS)


def convert_mocov3_release(state_dict: Dict[str, torch.Tensor], encoder: str = 'base_encoder'
                           ) -> Dict[str, Dict[str, torch.Tensor]]:
    """Split a moco-v3 ViT checkpoint into mmbeit parts.

    Args:
        state_dict: the ``state_dict`` entry of a release file (pretrained or linear/fine-tuned).
        encoder: 'base_encoder' (the query encoder, used for transfer in the paper) or
            'momentum_encoder'. Ignored for linear / fine-tuned files.

    Returns:
        dict with 'backbone' (mmbeit BEiTViT keys), and where present 'projector',
        'predictor' (``nn.Sequential`` indices, as released) and 'cls_head' (``fc.weight``,
        ``fc.bias`` of an mmpretrain ``LinearClsHead``).

    Raises:
        KeyError: keys of no known layout.
    """
    if encoder not in ENCODERS:
        raise ValueError(f'encoder must be one of {ENCODERS}, got {encoder!r}')
    sd = strip_prefix(state_dict, 'module.') if all(k.startswith('module.')
                                              for k in state_dict) else dict(state_dict)
    parts: Dict[str, Dict[str, torch.Tensor]] = {}
    if any(k.startswith(ENCODERS) for k in sd):  # pretraining checkpoint
        vit = strip_prefix(sd, encoder + '.')
        projector = strip_prefix(vit, 'head.')
        vit = OrderedDict((k, v) for k, v in vit.items() if not k.startswith('head.'))
        parts['projector'] = projector
        predictor = strip_prefix(sd, 'predictor.')
        if predictor:
            parts['predictor'] = predictor
        known = tuple(e + '.' for e in ENCODERS) + ('predictor.',)
        stray = [k for k in sd if not k.startswith(known)]
    else:  # linear-probe / fine-tuned timm ViT
        head = strip_prefix(sd, 'head.')
        vit = OrderedDict((k, v) for k, v in sd.items() if not k.startswith('head.'))
        if head:
            parts['cls_head'] = OrderedDict(('fc.' + k, v) for k, v in head.items())
        stray = []
    parts['backbone'], rest = convert_timm_vit(vit)
    if rest or stray:
        raise KeyError(f'keys of no known moco-v3 layout: {", ".join((rest + stray)[:20])}')
    if not parts['backbone']:
        raise KeyError(f'no ViT weights found; first keys: {list(state_dict)[:5]}')
    return parts
