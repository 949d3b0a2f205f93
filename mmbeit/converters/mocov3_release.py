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

import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

ENCODERS = ('base_encoder', 'momentum_encoder')
_VIT_KEYS = re.compile(r'^(cls_token|pos_embed|patch_embed\.proj\.(weight|bias)|norm\.(weight|bias)'
                       r'|blocks\.\d+\.(norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)'
                       r'|blocks\.\d+\.attn\.qkv\.weight)$')


def _strip(state_dict: Dict[str, torch.Tensor], prefix: str) -> Dict[str, torch.Tensor]:
    return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))


def split_qkv_bias(bias: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(3C,) timm qkv bias -> (q_bias, v_bias); the k part is dropped (softmax-invariant)."""
    if bias.ndim != 1 or bias.shape[0] % 3:
        raise ValueError(f'qkv bias must be (3C,), got {tuple(bias.shape)}')
    c = bias.shape[0] // 3
    return bias[:c].clone(), bias[2 * c:].clone()


def convert_timm_vit(vit: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """timm ViT keys -> mmbeit ``BEiTViT`` keys (backbone only) and the non-ViT keys left over."""
    out: Dict[str, torch.Tensor] = OrderedDict()
    rest: List[str] = []
    for key, value in vit.items():
        if key.endswith('attn.qkv.bias'):
            q_bias, v_bias = split_qkv_bias(value)
            stem = key[:-len('qkv.bias')]
            out[stem + 'q_bias'] = q_bias
            out[stem + 'v_bias'] = v_bias
        elif _VIT_KEYS.match(key):
            out[key] = value
        else:
            rest.append(key)
    return out, rest


def release_num_heads(checkpoint: dict) -> Optional[int]:
    """Head count from a moco-v3 file's ``arch`` entry ('vit_small' = 12 heads of 32 dims,
    'vit_base' = 12, as ``vits.py`` defines them); None when absent."""
    from mmbeit.models.backbones.mocov3_vit import MOCOV3_ARCH_SETTINGS
    from mmbeit.models.backbones.pretrained import resolve_num_heads

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
    sd = _strip(state_dict, 'module.') if all(k.startswith('module.')
                                              for k in state_dict) else dict(state_dict)
    parts: Dict[str, Dict[str, torch.Tensor]] = {}
    if any(k.startswith(ENCODERS) for k in sd):  # pretraining checkpoint
        vit = _strip(sd, encoder + '.')
        projector = _strip(vit, 'head.')
        vit = OrderedDict((k, v) for k, v in vit.items() if not k.startswith('head.'))
        parts['projector'] = projector
        predictor = _strip(sd, 'predictor.')
        if predictor:
            parts['predictor'] = predictor
        known = tuple(e + '.' for e in ENCODERS) + ('predictor.',)
        stray = [k for k in sd if not k.startswith(known)]
    else:  # linear-probe / fine-tuned timm ViT
        head = _strip(sd, 'head.')
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
