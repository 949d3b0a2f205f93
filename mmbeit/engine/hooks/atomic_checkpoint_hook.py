"""MMEngine's CheckpointHook without its two ways of losing every checkpoint.

MMEngine 0.10 deletes the checkpoint that ``max_keep_ckpts`` drops *before* writing the new
one, and writes the new one under its final name: a kill between the two, or during the write
(or a full disk), leaves no loadable checkpoint, and ``last_checkpoint`` names a missing or
truncated file. Here a checkpoint is written under a temporary name in the same directory,
synced, renamed into place (atomic on POSIX), then ``last_checkpoint`` is replaced the same
way, and only then is the dropped checkpoint deleted. A failed write (e.g. a full disk) removes
the partial file and stops the run with a message, in the log, naming the directory, the free
space and the size of the previous checkpoint.

It also keeps bad weights out: an iteration whose loss terms are not finite, or whose
optimizer step was skipped for non-finite gradients (``FiniteOptimWrapper``), is logged and
not checkpointed, ``max_nonfinite_iters`` such iterations in a row stop the run with an error
naming the iteration, the terms and the last good checkpoint, and a checkpoint whose weights
are not all finite is never written.

Registered in mmbeit's scope as ``CheckpointHook`` too, so every recipe (``default_scope =
'mmbeit'``) uses it; the other arguments are MMEngine's.
"""
from __future__ import annotations

import math
import os
import os.path as osp
import shutil
from typing import Dict, List, Optional

import torch
from mmengine.dist import barrier, get_dist_info, is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook

from mmbeit.engine.optimizers.finite_optim_wrapper import SKIPS_INFO
from mmbeit.engine.runner.resume_check import check_resume
from mmbeit.registry import HOOKS

PARTIAL_SUFFIX = '.partial'


def fsync_path(path: str) -> None:
    """Flush a file (or every file of a folder) and its directory entry to disk."""
    files = [path] if osp.isfile(path) else [
        osp.join(root, name) for root, _, names in os.walk(path) for name in names]
    for name in files:
        with open(name, 'rb') as f:
            os.fsync(f.fileno())
    directory = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def replace_text_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    partial = path + PARTIAL_SUFFIX
    with open(partial, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def _remove(path: str) -> None:
    if osp.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif osp.lexists(path):
        os.remove(path)


def _suggest(unknown) -> str:
    """``name (did you mean x?)`` for each unknown hook argument."""
    import difflib
    import inspect

    known = [n for n in inspect.signature(AtomicCheckpointHook.__init__).parameters
             if n not in ('self', 'args', 'kwargs')]
    known += [n for n in inspect.signature(CheckpointHook.__init__).parameters
              if n not in ('self', 'kwargs')]
    out = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        out.append(name + (f' (did you mean {close[0]}?)' if close else ''))
    return ', '.join(out)


class DivergedError(RuntimeError):
    """The loss stayed non-finite, or the weights to checkpoint are not finite."""


def nonfinite_terms(outputs) -> Dict[str, float]:
    """The loss terms of a train step's log vars that are NaN / inf."""
    bad = {}
    for name, value in (outputs or {}).items():
        if 'loss' not in name:
            continue
        value = float(value.float().mean()) if isinstance(value, torch.Tensor) else value
        if isinstance(value, float) and not math.isfinite(value):
            bad[name] = value
    return bad


def nonfinite_weights(model: torch.nn.Module, limit: int = 5) -> List[str]:
    """Up to ``limit`` names of floating-point state tensors with a NaN / inf entry."""
    model = getattr(model, 'module', model)
    names = []
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            names.append(name)
            if len(names) == limit:
                break
    return names


@HOOKS.register_module(name=['AtomicCheckpointHook', 'CheckpointHook'])
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that writes atomically, deletes old checkpoints last and never
    checkpoints diverged weights (``max_nonfinite_iters``: consecutive non-finite losses or
    skipped steps that stop the run; 0 turns the stop off); on ``--resume`` it refuses a
    checkpoint of another model or optimizer (``check_resume``)."""

    def __init__(self, *args, max_nonfinite_iters: int = 3, check_resume: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.args:  # MMEngine hands these to save_checkpoint, which takes none of them
            raise TypeError(f'CheckpointHook: unknown argument(s) {_suggest(self.args)}')
        self.check_resume = check_resume
        if max_nonfinite_iters < 0:
            raise ValueError(f'max_nonfinite_iters must be >= 0, got {max_nonfinite_iters}')
        self.max_nonfinite_iters = max_nonfinite_iters
        self._nonfinite_streak = 0
        self._skips_seen = 0

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On ``--resume`` (before anything is loaded): refuse a checkpoint written by another
        model or optimizer (:func:`~mmbeit.engine.runner.resume_check.check_resume`)."""
        from torch.distributed.fsdp import FullyShardedDataParallel

        if (self.check_resume and getattr(runner, '_resume', False)
                and not isinstance(runner.model, FullyShardedDataParallel)):
            check_resume(runner.model, getattr(runner, 'optim_wrapper', None), checkpoint,
                         source=getattr(runner, '_load_from', None) or 'the checkpoint')

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._skips_seen = runner.message_hub.get_info(SKIPS_INFO, 0)  # resumed runs too

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        bad = nonfinite_terms(outputs)
        skips = runner.message_hub.get_info(SKIPS_INFO, 0)
        skipped, self._skips_seen = skips != self._skips_seen, skips
        if not bad and not skipped:
            self._nonfinite_streak = 0
            return super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self._nonfinite_streak += 1
        terms = ', '.join(f'{k}={v}' for k, v in bad.items()) or 'non-finite gradients'
        last = runner.message_hub.get_info('last_ckpt') or 'none written yet'
        runner.logger.warning(f'iteration {runner.iter + 1}: not finite ({terms}); not '
                              f'checkpointed ({self._nonfinite_streak} in a row)')
        if self.max_nonfinite_iters and self._nonfinite_streak >= self.max_nonfinite_iters:
            raise DivergedError(
                f'training diverged: the loss or gradients were not finite for '
                f'{self._nonfinite_streak} iterations in a row, the last at iteration '
                f'{runner.iter + 1} ({terms}). The '
                f'last good checkpoint is {last}: resume from it with a lower lr (or fix the '
                'data / preprocessor) via --resume')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        bad = nonfinite_weights(runner.model)
        if bad:
            raise DivergedError(
                f'not writing checkpoint {self.filename_tmpl.format(step)}: non-finite values in '
                f'{", ".join(bad)}; the last good checkpoint is '
                f'{runner.message_hub.get_info("last_ckpt") or "none"}')
        if not isinstance(self.file_backend, LocalBackend):  # remote storage: MMEngine's way
            return super()._save_checkpoint_with_step(runner, step, meta)
        dropped: Optional[int] = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        partial = osp.join(self.out_dir, f'.{filename}{PARTIAL_SUFFIX}')
        try:
            runner.save_checkpoint(self.out_dir, osp.basename(partial), self.file_client_args,
                                   save_optimizer=self.save_optimizer,
                                   save_param_scheduler=self.save_param_scheduler, meta=meta,
                                   by_epoch=self.by_epoch, backend_args=self.backend_args,
                                   **self.args)
        except OSError as err:
            self._stop_on_failed_write(runner, partial, err)
        if get_dist_info()[1] > 1:
            barrier()  # sharded checkpoints: every rank has written its part
        if not is_main_process():
            return
        fsync_path(partial)
        _remove(self.last_ckpt)  # a folder (sharded) is not replaced by os.replace
        os.replace(partial, self.last_ckpt)
        if osp.isfile(self.last_ckpt):
            self._saved_bytes = osp.getsize(self.last_ckpt)
        replace_text_file(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if dropped is not None:
            _remove(osp.join(self.out_dir, self.filename_tmpl.format(dropped)))

    def _stop_on_failed_write(self, runner, partial: str, err: OSError) -> None:
        _remove(partial)
        free = shutil.disk_usage(self.out_dir).free
        previous = getattr(self, '_saved_bytes', None)
        need = (f'; the previous checkpoint took {previous / 2**20:.1f} MiB'
                if previous else '')
        msg = (f'cannot write a checkpoint in {self.out_dir}: {err.strerror or err} '
               f'({free / 2**20:.1f} MiB free{need}). The run stops here; the checkpoints '
               'already written are intact: free space (or set the hook\'s out_dir) and '
               'resume with --resume')
        runner.logger.error(msg)
        raise OSError(err.errno, msg) from err
