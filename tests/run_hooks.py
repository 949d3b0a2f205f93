"""Hooks that tests inject into real ``tools/train.py`` runs via ``custom_imports``."""
from __future__ import annotations

import os
import signal

import torch
from mmengine.hooks import Hook

from mmbeit.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """SIGKILL the process right after iteration ``kill_at`` (after its checkpoint is saved)."""

    priority = 'LOWEST'

    def __init__(self, kill_at: int) -> None:
        self.kill_at = kill_at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """After training, every rank saves its own model weights to ``work_dir/rank{r}.pth``."""

    def after_run(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.save(model.state_dict(), os.path.join(runner.work_dir, f'rank{runner.rank}.pth'))


@HOOKS.register_module()
class FailSaveHook(Hook):
    """Make the ``at_save``-th checkpoint write fail: ``mode='kill'`` writes it, cuts the file
    to half and SIGKILLs the process (a kill mid-write); ``mode='enospc'`` raises the OSError of
    a full disk after writing a little."""

    def __init__(self, at_save: int, mode: str = 'kill') -> None:
        self.at_save, self.mode, self.saves = at_save, mode, 0

    def before_train(self, runner) -> None:
        save = runner.save_checkpoint

        def failing_save(out_dir, filename, *args, **kwargs):
            self.saves += 1
            if self.saves != self.at_save:
                return save(out_dir, filename, *args, **kwargs)
            path = os.path.join(out_dir, filename)
            if self.mode == 'kill':
                save(out_dir, filename, *args, **kwargs)
                with open(path, 'r+b') as f:
                    f.truncate(os.path.getsize(path) // 2)
                os.kill(os.getpid(), signal.SIGKILL)
            with open(path, 'wb') as f:
                f.write(b'\0' * 1024)
            raise OSError(28, 'No space left on device')

        runner.save_checkpoint = failing_save
