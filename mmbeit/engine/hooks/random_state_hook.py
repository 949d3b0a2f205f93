"""Save every random state in checkpoints and restore it on resume, for bit-exact resumption."""
from __future__ import annotations

import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from mmengine.hooks import CheckpointHook, Hook

from mmbeit.registry import HOOKS
from mmbeit.utils.distributed import get_rank, get_world_size, is_distributed


def get_random_states() -> Dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) generator states, as weights-only-safe types."""
    np_state = np.random.get_state()
    states = dict(
        python=random.getstate(),
        numpy=dict(keys=torch.from_numpy(np_state[1].astype(np.int64)), pos=int(np_state[2]),
                   has_gauss=int(np_state[3]), cached_gaussian=float(np_state[4])),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: Dict[str, Any]) -> None:
    """Inverse of :func:`get_random_states`."""
    version, internal, gauss = states['python']
    random.setstate((version, tuple(internal), gauss))
    n = states['numpy']
    np.random.set_state(('MT19937', n['keys'].numpy().astype(np.uint32), n['pos'],
                         n['has_gauss'], n['cached_gaussian']))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


class _RestoreAfterSkip:
    """Wraps a train loop's data iterator: restores the states after the resume fast-forward.

    MMEngine's ``IterBasedTrainLoop`` re-draws the first k batches on resume (running the random
    transforms again); the saved states belong *after* that, right before batch k+1.
    """

    def __init__(self, loop, skip: int, states: Dict[str, Any]) -> None:
        self.loop, self.inner = loop, loop.dataloader_iterator
        self.skip, self.count, self.states = skip, 0, states

    def __iter__(self):
        return self

    def __next__(self):
        if self.count == self.skip:
            set_random_states(self.states)
            self.loop.dataloader_iterator = self.inner
        self.count += 1
        return next(self.inner)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Stores each rank's random states in ``checkpoint['meta']['random_states']``.

    On resume, an iteration-based loop gets the states back right after MMEngine fast-forwards
    the dataloader; an epoch-based loop (resumed at an epoch boundary) before its next epoch.
    Together with MMEngine's own model / optimizer / scheduler / message-hub state this makes
    a killed-and-resumed iteration-based CPU run end bit-identical to an uninterrupted one
    (the fast-forward replays the data stream). An epoch-based resume continues with the same
    states in the main process, but what lives elsewhere starts afresh: the generators of
    persistent dataloader workers and the masks that ``BlockwiseMaskGenerator`` drew ahead. Its
    augmentations then differ from the uninterrupted run's (the same distribution).
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._pending: Optional[Dict[str, Any]] = None
        self._gathered: Optional[List[Any]] = None

    @staticmethod
    def _checkpoint_due(runner, epoch_end: bool) -> bool:
        """Whether a CheckpointHook saves at the end of this iteration / epoch."""
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook) or hook.by_epoch != epoch_end:
                continue
            if epoch_end:
                return (hook.every_n_epochs(runner, hook.interval, hook.save_begin)
                        or (hook.save_last and hook.is_last_train_epoch(runner)))
            return (hook.every_n_train_iters(runner, hook.interval, hook.save_begin)
                    or (hook.save_last and hook.is_last_train_iter(runner)))
        return False

    def _gather_if_due(self, runner, epoch_end: bool) -> None:
        # saving runs on rank 0 only, so every rank hands its states over beforehand
        if is_distributed() and self._checkpoint_due(runner, epoch_end):
            self._gathered = [None] * get_world_size()
            dist.all_gather_object(self._gathered, get_random_states())

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._gather_if_due(runner, epoch_end=False)

    def after_train_epoch(self, runner) -> None:
        self._gather_if_due(runner, epoch_end=True)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        gathered = self._gathered if is_distributed() and self._gathered else [
            get_random_states()]
        self._gathered = None
        checkpoint.setdefault('meta', {})['random_states'] = gathered

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get('random_states')
        if not saved:
            return
        if len(saved) != get_world_size():
            runner.logger.warning(
                f'checkpoint holds random states of {len(saved)} ranks, this run has '
                f'{get_world_size()}: data order and augmentation will not replay exactly')
        self._pending = saved[get_rank() % len(saved)]

    def before_train_epoch(self, runner) -> None:
        if self._pending is None:
            return
        states, self._pending = self._pending, None
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):  # iteration-based: restore after the skip
            loop.dataloader_iterator = _RestoreAfterSkip(loop, runner.iter, states)
        else:
            set_random_states(states)
