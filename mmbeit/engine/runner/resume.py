"""``--resume`` without a path: the newest checkpoint of the work dir that reads, not merely the
one ``last_checkpoint`` names.

MMEngine resumes from the file ``last_checkpoint`` names and fails (or, when the pointer is
missing, silently starts from scratch) if that file is damaged. Here the candidates are the
pointer's target and every ``epoch_N.pth`` / ``iter_N.pth`` of the work dir, newest first; each
is read with the safe reader and the first intact one is taken, saying which ones were skipped
and why (damaged: file, size, reason; unsafe: the global it pickles). A work dir with
checkpoints none of which reads stops the run; one without any starts from scratch, saying so.
"""
from __future__ import annotations

import os
import os.path as osp
import re
from typing import Callable, List, Optional, Tuple

from mmbeit.utils.checkpoint import CheckpointError, UnsafeCheckpointError, load_checkpoint

_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def resume_candidates(work_dir: str) -> List[str]:
    """The pointer's target first (when it exists), then ``epoch_N`` / ``iter_N`` checkpoints by
    decreasing N."""
    found: List[Tuple[int, str]] = []
    for name in os.listdir(work_dir) if osp.isdir(work_dir) else []:
        match = _NAME.match(name)
        if match:
            found.append((int(match.group(2)), osp.join(work_dir, name)))
    ordered = [path for _, path in sorted(found, reverse=True)]
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            target = f.read().strip()
        if target and osp.exists(target):
            ordered = [target] + [p for p in ordered if osp.abspath(p) != osp.abspath(target)]
    return ordered


def newest_intact_checkpoint(work_dir: str,
                             log: Callable[[str], None] = print) -> Optional[str]:
    """The checkpoint to resume from (see the module docstring); None for a fresh work dir.

    Raises:
        CheckpointError: the work dir has checkpoints and none of them reads.
    """
    candidates = resume_candidates(work_dir)
    skipped = []
    for path in candidates:
        try:
            load_checkpoint(path, map_location='cpu')
        except UnsafeCheckpointError as err:
            skipped.append(f'{path}: unsafe: {err}')
        except CheckpointError as err:  # names the file, its size and why
            skipped.append(str(err))
        else:
            for line in skipped:
                log(f'--resume: skipped {line}')
            if skipped:
                log(f'--resume: resuming from {path}, the newest intact checkpoint')
            return path
    if candidates:
        raise CheckpointError('--resume: no checkpoint in ' + work_dir + ' can be read:\n  '
                              + '\n  '.join(skipped) + '\nresume from a copy (--resume PATH) '
                              'or start afresh in another --work-dir')
    log(f'--resume: no checkpoint in {work_dir}; starting from scratch')
    return None
