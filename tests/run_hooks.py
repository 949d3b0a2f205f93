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
