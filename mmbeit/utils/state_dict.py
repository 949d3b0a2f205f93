"""Loading state dicts with a full report of what did not fit."""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn


class StateDictMismatchError(KeyError):
    """A checkpoint does not match a module: lists missing, unexpected and mis-shaped keys."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _shape_mismatches(module: nn.Module, state_dict: Dict[str, torch.Tensor]
                      ) -> List[Tuple[str, tuple, tuple]]:
    own = module.state_dict()
    out = []
    for k, v in state_dict.items():
        if k in own and hasattr(v, 'shape') and tuple(v.shape) != tuple(own[k].shape):
            # relative position tables are resized on load (RelativePositionBias)
            if not k.endswith('relative_position_bias_table'):
                out.append((k, tuple(v.shape), tuple(own[k].shape)))
    return out


def load_state_dict_report(module: nn.Module, state_dict: Dict[str, torch.Tensor],
                           source: str = 'checkpoint', strict: bool = True,
                           ignore_missing: Tuple[str, ...] = ()) -> Dict[str, list]:
    """Load ``state_dict`` into ``module``; on any mismatch raise one error that lists it all.

    Args:
        module: the target module.
        state_dict: tensors keyed as ``module.state_dict()``.
        source: a name for the checkpoint (file / layout) used in the message.
        strict: raise on missing / unexpected / mis-shaped keys. Defaults to True.
        ignore_missing: key prefixes that may be absent (e.g. heads dropped on purpose).

    Logs one line naming the module, the number of tensors loaded and ``source``.

    Returns:
        dict with 'missing', 'unexpected', 'mismatched' lists (empty when all fit).
    """
    mismatched = _shape_mismatches(module, state_dict)
    own_keys = set(module.state_dict())
    missing = sorted(k for k in own_keys - set(state_dict) if not k.startswith(ignore_missing))
    unexpected = sorted(set(state_dict) - own_keys)
    report = dict(missing=missing, unexpected=unexpected, mismatched=mismatched)
    if strict and (missing or unexpected or mismatched):
        lines = [f'{source} does not match {type(module).__name__}:']
        if missing:
            lines.append(f'  missing keys ({len(missing)}): {", ".join(missing[:20])}'
                         + (' ...' if len(missing) > 20 else ''))
        if unexpected:
            lines.append(f'  unexpected keys ({len(unexpected)}): {", ".join(unexpected[:20])}'
                         + (' ...' if len(unexpected) > 20 else ''))
        for k, got, want in mismatched[:20]:
            lines.append(f'  shape of {k}: checkpoint {got}, model {want}')
        raise StateDictMismatchError('\n'.join(lines))
    fit = {k: v for k, v in state_dict.items() if k not in {m[0] for m in mismatched}}
    module.load_state_dict(fit, strict=False)
    from mmengine.logging import print_log

    skipped = len(missing) + len(unexpected) + len(mismatched)
    print_log(f'{type(module).__name__}: loaded {len(fit)} tensors from {source}'
              + (f' ({skipped} keys did not fit, non-strict)' if skipped else ''),
              logger='current')
    return report
