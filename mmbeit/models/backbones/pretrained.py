"""Pretrained weights into a :class:`BEiTViT`: the architecture is checked, nothing is left at
its initial value without an error.

Converted checkpoints (``tools/model_converters/*``) record the source architecture in
``meta['arch']`` (``embed_dims``, ``num_layers``, ``mlp_ratio``, ``patch_size`` read from the
shapes, ``num_heads`` from the release's own record or ``--num-heads``): the head count cannot be
read from any weight shape, and a checkpoint loaded with the wrong one gives other features with
no key error.
"""
from __future__ import annotations

import re
from typing import Dict, List, Sequence

import torch
from mmengine.logging import print_log

from mmbeit.utils import (
    StateDictMismatchError,
    get_state_dict,
    load_checkpoint,
    load_state_dict_report,
    strip_prefix,
)
from mmbeit.utils.key_maps import top_level_names

ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'mlp_ratio', 'patch_size')
# tensors a backbone may get from its own init when a checkpoint lacks them: the fine-tuning
# pooled-token norm (new in fine-tuning), the MIM mask token, and recomputed buffers
OPTIONAL_KEYS = ('fc_norm.', 'mask_token')


class ArchMismatchError(ValueError):
    """A checkpoint of one ViT architecture loaded into a backbone of another."""


def backbone_arch(backbone) -> Dict[str, float]:
    """The :data:`ARCH_KEYS` of a built :class:`BEiTViT`."""
    return dict(embed_dims=backbone.embed_dims, num_layers=backbone.num_layers,
                num_heads=backbone.num_heads, mlp_ratio=backbone.mlp_ratio,
                patch_size=backbone.patch_size)


def arch_from_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """What the shapes of mmbeit / timm / unilm ViT keys tell: everything but ``num_heads``."""
    out: Dict[str, float] = {}
    proj = state_dict.get('patch_embed.proj.weight')
    if proj is not None:
        out['embed_dims'], out['patch_size'] = int(proj.shape[0]), int(proj.shape[-1])
    blocks = {int(m.group(1)) for k in state_dict if (m := re.match(r'^blocks\.(\d+)\.', k))}
    if blocks:
        out['num_layers'] = max(blocks) + 1
    fc1 = state_dict.get('blocks.0.mlp.fc1.weight')
    if fc1 is not None:
        out['mlp_ratio'] = float(fc1.shape[0]) / float(fc1.shape[1])
    return out


def fitting_presets(arch: Dict[str, float]) -> List[str]:
    """``type=... arch=...`` presets (all families) whose numbers equal ``arch``'s."""
    from .beit_vit import BEiTViT
    from .mocov3_vit import MoCoV3ViT

    fits = []
    for cls in (BEiTViT, MoCoV3ViT):
        for name, preset in cls.arch_settings.items():
            if all(float(preset[k]) == float(arch[k]) for k in preset if k in arch):
                fits.append(f"type='{cls.__name__}', arch='{name}'")
    return fits


def check_arch(backbone, arch: Dict[str, float], source: str = 'checkpoint') -> None:
    """Raise :class:`ArchMismatchError` when ``arch`` (known entries) differs from the
    backbone's, naming the presets that fit the checkpoint."""
    own = backbone_arch(backbone)
    diff = [f'{k} {arch[k]:g} (backbone {own[k]:g})' for k in ARCH_KEYS
            if arch.get(k) is not None and float(arch[k]) != float(own[k])]
    if not diff:
        return
    fits = fitting_presets(arch)
    numbers = ', '.join(f'{k}={arch[k]:g}' for k in ARCH_KEYS if arch.get(k) is not None)
    hint = ('presets that fit: ' + '; '.join(fits)) if fits else 'no preset fits'
    raise ArchMismatchError(
        f'{source} was trained with another ViT: {", ".join(diff)}. The checkpoint has '
        f'{numbers}; {hint}, or give arch=dict(embed_dims=..., num_layers=..., num_heads=..., '
        'mlp_ratio=...).')


def is_vit(backbone) -> bool:
    """Whether ``backbone`` exposes the :data:`ARCH_KEYS` (mmbeit's ViTs do)."""
    return all(hasattr(backbone, k) for k in ARCH_KEYS)


def load_backbone_part(backbone, state_dict: Dict[str, torch.Tensor], prefix: str = '',
                       source: str = 'checkpoint') -> Dict[str, list]:
    """The one loader of "the backbone part of a checkpoint": the ``prefix`` keys of
    ``state_dict`` into ``backbone``, strictly (:func:`load_state_dict_report`); a ViT of
    another size is an :class:`ArchMismatchError` naming the presets that fit, not a list of
    every mis-shaped key.

    Raises:
        StateDictMismatchError: nothing under ``prefix``, or missing / unexpected / mis-shaped
            tensors (all listed).
    """
    part = strip_prefix(state_dict, prefix) if prefix else dict(state_dict)
    where = f'{source} [{prefix}]' if prefix else source
    if not part:
        raise StateDictMismatchError(f'{source}: no keys under {prefix!r}; it has '
                                     f'{top_level_names(state_dict)}')
    if is_vit(backbone):
        check_arch(backbone, arch_from_state_dict(part), source=where)
    return load_state_dict_report(backbone, part, source=where)


def checkpoint_arch(checkpoint: dict, state_dict: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """``meta['arch']`` of a converted checkpoint, completed by what the shapes tell."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    recorded = dict(meta.get('arch') or {}) if isinstance(meta, dict) else {}
    return {**arch_from_state_dict(state_dict), **recorded}


def load_pretrained_backbone(backbone, path: str, prefix: str = '',
                             optional: Sequence[str] = OPTIONAL_KEYS,
                             strict_missing: bool = True) -> Dict[str, list]:
    """Load ``path`` (weights-only) into ``backbone``, checked.

    Args:
        backbone: a :class:`BEiTViT`.
        path: local checkpoint (MMEngine ``state_dict`` entry or a plain state dict).
        prefix: keys of the backbone inside the checkpoint, e.g. 'backbone.'.
        optional: key prefixes the backbone may keep from its own init (default: ``fc_norm.``,
            ``mask_token``). A fixed sin-cos ``pos_embed`` is always optional.
        strict_missing: raise on any other tensor the checkpoint lacks (it would stay at its
            initial value). False logs them as a warning instead.

    Raises:
        ArchMismatchError: the checkpoint's architecture (``meta['arch']`` or shapes) is not
            the backbone's; the message names the presets that fit.
        StateDictMismatchError: missing expected tensors, or mis-shaped ones.
    """
    checkpoint = load_checkpoint(path)
    state_dict = get_state_dict(checkpoint)
    if prefix:
        if not any(k.startswith(prefix) for k in state_dict):
            raise StateDictMismatchError(f'{path}: no keys under {prefix!r}; it has '
                                         f'{top_level_names(state_dict)}')
        state_dict = strip_prefix(state_dict, prefix)
    check_arch(backbone, checkpoint_arch(checkpoint, state_dict), source=path)
    optional = tuple(optional)
    if backbone.pos_embed_type == 'sincos':  # fixed table: rebuilt for any grid
        optional += ('pos_embed',)
        if 'pos_embed' in state_dict and \
                state_dict['pos_embed'].shape != backbone.pos_embed.shape:
            state_dict = {k: v for k, v in state_dict.items() if k != 'pos_embed'}
    own = set(backbone.state_dict())
    unexpected = sorted(set(state_dict) - own)
    missing = sorted(k for k in own - set(state_dict) if not k.startswith(optional))
    if missing and not strict_missing:
        print_log(f'{path}: {len(missing)} backbone tensors are not in the checkpoint and keep '
                  f'their initial values: {", ".join(missing[:20])}', logger='current',
                  level=30)
    hint = ''
    if any(k.endswith('rel_pos_bias.relative_position_bias_table') for k in missing) and \
            'rel_pos_bias.relative_position_bias_table' in state_dict:
        hint = (' (the checkpoint has a shared relative position table: convert it with '
                '--unshare-rel-pos-bias, or build the backbone with use_shared_rel_pos_bias)')
    fit = {k: v for k, v in state_dict.items() if k in own}
    report = load_state_dict_report(
        backbone, fit, source=f'{path} (prefix {prefix!r}){hint}', strict=True,
        ignore_missing=optional + (() if strict_missing else tuple(missing)))
    if unexpected:
        print_log(f'{path}: {len(unexpected)} checkpoint tensors not used by the backbone: '
                  f'{", ".join(unexpected[:20])}', logger='current')
    report['unexpected'] = unexpected
    return report

