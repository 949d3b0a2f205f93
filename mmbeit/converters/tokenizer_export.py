"""A trained VQ-KD / DALL-E dVAE tokenizer as one self-describing safetensors file.

The file holds the tokenizer's own state dict (:class:`~mmbeit.models.VQKDTokenizer` /
:class:`~mmbeit.models.DALLEdVAE` keys, no prefix) and, in its metadata, the tokenizer's config
(``mmbeit_meta`` -> ``tokenizer``): :func:`build_tokenizer_from_file` rebuilds it from the file
alone, and every mmbeit ``checkpoint=`` / ``init_cfg`` of a tokenizer reads it as well.
docs/interop.md describes the tensors for use without mmbeit.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import nn

from mmbeit.utils import get_state_dict, load_checkpoint, load_state_dict_report, strip_prefix

StateDict = Dict[str, torch.Tensor]
# where a tokenizer sits: VQKD / DVAE training (tokenizer), BEiT pretraining (target_generator)
PARTS = (('tokenizer', 'tokenizer.'), ('target_generator', 'target_generator.'))
TOKENIZER_TYPES = ('VQKDTokenizer', 'DALLEdVAE')
# arguments that point at files or say how to initialise: not part of the architecture
_LOADING_ARGS = ('checkpoint', 'decoder_checkpoint', 'init_cfg')


def _tokenizer_cfg(model_cfg: dict) -> Tuple[dict, str]:
    for name, prefix in PARTS:
        part = model_cfg.get(name)
        if isinstance(part, dict) and part.get('type') in TOKENIZER_TYPES:
            return {k: v for k, v in part.items() if k not in _LOADING_ARGS}, prefix
    raise KeyError(f'the config has no {" / ".join(TOKENIZER_TYPES)} under model.tokenizer '
                   'or model.target_generator')


def read_tokenizer(path: str, config: Optional[str] = None) -> Tuple[dict, StateDict]:
    """(tokenizer config, its tensors without prefix) of a VQ-KD / dVAE / BEiT checkpoint.

    The config comes from ``config`` (a file) or the one MMEngine recorded in ``meta['cfg']``.
    """
    from mmengine.config import Config

    checkpoint = load_checkpoint(path)
    state_dict = get_state_dict(checkpoint)
    if config:
        cfg = Config.fromfile(config)
    else:
        text = (checkpoint.get('meta') or {}).get('cfg')
        if not isinstance(text, str):
            raise KeyError(f'{path} records no config (meta["cfg"]); pass --config')
        cfg = Config.fromstring(text, file_format='.py')
    tokenizer_cfg, prefix = _tokenizer_cfg(cfg.model.to_dict())
    tensors = strip_prefix(state_dict, prefix)
    if not tensors:
        raise KeyError(f'{path}: no tensors under {prefix!r}')
    return tokenizer_cfg, tensors


def build_tokenizer(tokenizer_cfg: dict, tensors: StateDict, source: str) -> nn.Module:
    """Build the tokenizer (random weights) and load ``tensors`` into it strictly: a missing or
    leftover tensor is an error naming it."""
    from mmbeit.registry import MODELS

    cfg = dict(tokenizer_cfg)
    if cfg['type'] == 'VQKDTokenizer':
        cfg['checkpoint'] = 'random'
        if not any(k.startswith('decoder.') for k in tensors):
            cfg['decoder'] = None
    elif not any(k.startswith('decoder.') for k in tensors):
        cfg['with_decoder'] = False
    tokenizer = MODELS.build(cfg)
    load_state_dict_report(tokenizer, tensors, source=source, strict=True)
    return tokenizer.eval()


def build_tokenizer_from_file(path: str) -> nn.Module:
    """The tokenizer of a file written by ``tools/model_converters/export_tokenizer.py``."""
    checkpoint = load_checkpoint(path)
    meta = checkpoint.get('meta') or {}
    if not isinstance(meta, dict) or 'tokenizer' not in meta:
        raise KeyError(f'{path} has no tokenizer config in its metadata; it was not written by '
                       'export_tokenizer.py (give the config yourself)')
    return build_tokenizer(meta['tokenizer'], get_state_dict(checkpoint), path)
