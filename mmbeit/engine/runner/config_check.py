"""Config mistakes that MMEngine lets through until late (or for ever), caught before the run.

- A top-level key one letter away from a runner setting (``load_frm=``, ``work_dirs=``) is
  ignored by MMEngine; here it is refused naming the setting it resembles.
- A data preprocessor ``std`` entry <= 0 divides by zero on every image (NaN losses from the
  first step, with a meaningless ``mlm_acc``); refused naming the entry.
- A frozen target without weights (``model.target_generator`` of BEiT, ``model.teacher`` of
  VQ-KD with neither ``checkpoint`` nor ``init_cfg``) would train against random weights;
  refused unless ``checkpoint='random'`` asks for that.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import re
from typing import List, Mapping

# read by MMEngine's Runner, mmpretrain's / mmbeit's tools or the config system itself
RANDOM_BY_DESIGN = ('RandomProjectionTokenizer',)  # frozen targets that are random on purpose
EXTRA_KEYS = ('model_wrapper_cfg', 'custom_imports', 'activation_checkpointing',
              'efficient_conv_bn_eval', 'sync_bn', 'filename', 'vis_backends')


@functools.lru_cache(maxsize=1)
def runner_keys() -> frozenset:
    """The top-level keys MMEngine's ``Runner`` / ``FlexibleRunner`` read from a config."""
    from mmengine.runner import FlexibleRunner, Runner

    keys = set(EXTRA_KEYS)
    for cls in (Runner, FlexibleRunner):
        src = inspect.getsource(cls.from_cfg)
        keys |= set(re.findall(r"cfg\.get\(\s*'(\w+)'", src))
        keys |= set(re.findall(r"cfg\['(\w+)'\]", src))
        keys |= set(inspect.signature(cls.__init__).parameters) - {'self', 'cfg'}
    return frozenset(keys)


def config_problems(cfg: Mapping) -> List[str]:
    """What :func:`check_config` refuses, one line each."""
    known = runner_keys()
    problems = []
    for key in cfg.keys():
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.85)
        if close:
            problems.append(f'{key!r} is not a setting the runner reads, so it would be ignored; '
                            f'did you mean {close[0]!r}?')
    model = cfg.get('model') or {}
    for where, pre in (('model.data_preprocessor', model.get('data_preprocessor')),
                       ('data_preprocessor', cfg.get('data_preprocessor'))):
        std = (pre or {}).get('std') if isinstance(pre, Mapping) else None
        if std is None:
            continue
        values = list(std) if isinstance(std, (list, tuple)) else [std]
        for i, value in enumerate(values):
            if not value > 0:
                problems.append(f'{where}.std[{i}]={value}: every std must be > 0 (images are '
                                'divided by it)')
    problems += random_targets(model)
    return problems


def random_targets(model: Mapping) -> List[str]:
    """Frozen targets of ``model`` (a config dict) that would hold random weights unasked."""
    out = []
    for key, role in (('target_generator', 'tokenizer'), ('teacher', 'teacher')):
        target = model.get(key)
        if not isinstance(target, Mapping):
            continue
        kind = str(target.get('type', '')).split('.')[-1]
        if (kind not in RANDOM_BY_DESIGN and target.get('checkpoint') is None
                and not target.get('init_cfg')):
            out.append(f'model.{key} ({kind}) has no checkpoint, so training would chase a '
                       f'random {role}: set model.{key}.checkpoint=PATH (or =random to train '
                       'against random weights on purpose)')
    return out


def check_config(cfg: Mapping, source: str = 'the config') -> None:
    """Raise ``ValueError`` listing :func:`config_problems` of ``cfg``, if any."""
    problems = config_problems(cfg)
    if problems:
        raise ValueError(f'{source}:\n  ' + '\n  '.join(problems))
