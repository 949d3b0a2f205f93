"""The architecture a converted checkpoint records in ``meta['arch']``.

No weight shape holds a ViT's head count, and a checkpoint loaded with the wrong one gives other
features without a key error; the converters therefore record it (from the release's own
``arch`` / ``args.model`` or ``--num-heads``) and the backbone loader checks it.
"""
from __future__ import annotations

import re
from typing import Dict, Optional

import torch

from mmbeit.models.backbones.pretrained import arch_from_state_dict
from mmbeit.utils.key_maps import strip_prefix


def arch_meta(backbone: Dict[str, torch.Tensor], num_heads: Optional[int] = None,
              prefix: str = '') -> dict:
    """``meta['arch']`` for a converted backbone (keys under ``prefix``): the shapes' numbers
    and, when known, ``num_heads``."""
    arch = arch_from_state_dict(strip_prefix(backbone, prefix))
    if num_heads is not None:
        if arch.get('embed_dims') and arch['embed_dims'] % num_heads:
            raise ValueError(f'num_heads {num_heads} does not divide embed_dims '
                             f'{arch["embed_dims"]}')
        arch['num_heads'] = int(num_heads)
    return arch


def choose_num_heads(given: Optional[int], recorded: Optional[int], src: str) -> Optional[int]:
    """The head count to record for a converted release: ``--num-heads`` (``given``) or what
    the release itself records; a contradiction is refused, neither gives a warning."""
    if given and recorded and given != recorded:
        raise SystemExit(f'--num-heads {given}, but {src} records a model with {recorded} '
                         'heads')
    if not (given or recorded):
        print('warning: the head count is not recorded in the release; pass --num-heads so '
              'that loading into a backbone of another head count fails')
    return given or recorded
def resolve_num_heads(record: Optional[str], presets: Dict[str, Dict[str, float]]
                      ) -> Optional[int]:
    """Head count from a release's model name ('vit_small', 'beit_base_patch16_224_8k_vocab')."""
    if not record:
        return None
    for size in ('tiny', 'small', 'base', 'large'):
        if re.search(rf'(^|_){size}(_|$)', str(record)) and size in presets:
            return int(presets[size]['num_heads'])
    return None
