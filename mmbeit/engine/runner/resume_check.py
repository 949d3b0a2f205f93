"""``--resume`` refuses a checkpoint whose model or optimizer differ from the config's.

MMEngine resumes a changed model with a warning (the changed parts re-initialised, the
optimizer keeping stale state of the old shapes) or fails deep in ``torch.optim`` ("parameter
group that doesn't match", ``KeyError: 'momentum'``). Here the checkpoint is compared with the
built model and optimizer before anything is loaded; a difference stops the run naming it.
Weights alone still load into a changed model through ``load_from`` without ``--resume``.
"""
from __future__ import annotations

from typing import List, Mapping

import torch

from mmbeit.utils.checkpoint import CheckpointError

SHOWN = 6  # differences listed per kind


class ResumeMismatchError(CheckpointError):
    """The checkpoint to resume was written by a different model or optimizer."""


def _shape(value) -> tuple:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else ()


def _listed(names: List[str]) -> str:
    more = f' (+{len(names) - SHOWN} more)' if len(names) > SHOWN else ''
    return '; '.join(names[:SHOWN]) + more


def model_mismatches(current: Mapping[str, torch.Tensor],
                     saved: Mapping[str, torch.Tensor]) -> List[str]:
    """Keys only one side has, and keys whose shapes differ."""
    out = []
    shapes = [f'{k} {_shape(saved[k])} in the checkpoint, {_shape(v)} in the config'
              for k, v in current.items() if k in saved and _shape(saved[k]) != _shape(v)]
    if shapes:
        out.append('model shapes differ: ' + _listed(shapes))
    missing = [k for k in current if k not in saved]
    if missing:
        out.append('model keys the checkpoint lacks: ' + _listed(missing))
    extra = [k for k in saved if k not in current]
    if extra:
        out.append('checkpoint keys the model lacks: ' + _listed(extra))
    return out


def optimizer_mismatches(optimizer: torch.optim.Optimizer, saved: Mapping) -> List[str]:
    """Optimizer type (its hyper-parameter names), parameter groups and per-parameter state
    shapes of ``saved`` (an ``Optimizer.state_dict()``) against ``optimizer``."""
    groups, saved_groups = optimizer.param_groups, saved.get('param_groups', [])
    name = type(optimizer).__name__
    keys = {k for g in groups for k in g if k != 'params'}
    saved_keys = {k for g in saved_groups for k in g if k != 'params'}
    if keys != saved_keys:
        return [f'optimizer differs: the checkpoint\'s has {sorted(saved_keys - keys)} that '
                f'the config\'s {name} lacks, and lacks {sorted(keys - saved_keys)}']
    sizes = [len(g['params']) for g in groups]
    saved_sizes = [len(g['params']) for g in saved_groups]
    if sizes != saved_sizes:
        return [f'optimizer parameter groups differ: {saved_sizes} parameters per group in the '
                f'checkpoint, {sizes} in the config']
    params = [p for g in groups for p in g['params']]
    indices = [i for g in saved_groups for i in g['params']]
    wrong = []
    for param, index in zip(params, indices):
        for key, value in saved.get('state', {}).get(index, {}).items():
            if _shape(value) not in ((), tuple(param.shape)):
                wrong.append(f'parameter {index} {key} {_shape(value)} in the checkpoint, '
                             f'{tuple(param.shape)} in the config')
                break
    return ['optimizer state shapes differ: ' + _listed(wrong)] if wrong else []


def check_resume(model: torch.nn.Module, optim_wrapper, checkpoint: Mapping,
                 source: str = 'the checkpoint') -> None:
    """Raise :class:`ResumeMismatchError` if ``checkpoint`` (a training checkpoint) was not
    written by this model / optimizer; ``optim_wrapper`` may be None (no optimizer check)."""
    model = getattr(model, 'module', model)
    problems = model_mismatches(model.state_dict(), checkpoint.get('state_dict', {}))
    saved = checkpoint.get('optimizer')
    optimizer = getattr(optim_wrapper, 'optimizer', None)
    if (isinstance(saved, Mapping) and 'param_groups' in saved
            and isinstance(optimizer, torch.optim.Optimizer)
            and type(optimizer).__name__ != 'ZeroRedundancyOptimizer'):
        problems += optimizer_mismatches(optimizer, saved)
    if problems:
        raise ResumeMismatchError(
            f'cannot resume from {source}: it was written by a different model or optimizer '
            'than this config builds:\n  ' + '\n  '.join(problems) + '\nresume with the config '
            'that wrote it, or start a new run from its weights with load_from=PATH (without '
            '--resume)')
