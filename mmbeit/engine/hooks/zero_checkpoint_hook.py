"""Checkpoints of ZeRO-sharded optimizer states that every rank takes part in."""
from __future__ import annotations

import functools
from typing import List

from mmengine.hooks import Hook
from torch.distributed.optim import ZeroRedundancyOptimizer

from mmbeit.registry import HOOKS


def zero_optimizers(runner) -> List[ZeroRedundancyOptimizer]:
    """The ZeRO optimizers of the runner's optim wrapper (one, or one per wrapper of a dict)."""
    wrapper = runner.optim_wrapper
    wrappers = wrapper.values() if hasattr(wrapper, 'values') else [wrapper]
    return [w.optimizer for w in wrappers
            if isinstance(getattr(w, 'optimizer', None), ZeroRedundancyOptimizer)]


@HOOKS.register_module()
class ZeroCheckpointHook(Hook):
    """Make ``runner.save_checkpoint`` gather ZeRO's sharded optimizer states on all ranks.

    ``ZeroRedundancyOptimizer.state_dict`` first gathers every rank's shard (a collective
    call), but MMEngine saves checkpoints on rank 0 only, so the other ranks never join and
    the run hangs at its first checkpoint. This hook wraps the runner's ``save_checkpoint`` so
    that every rank gathers first; rank 0 then writes the full optimizer state (the checkpoint
    loads on any number of ranks: ``load_state_dict`` re-shards it). ``tools/train.py`` adds
    it whenever the optimizer is a ``ZeroRedundancyOptimizer``.
    """

    def before_train(self, runner) -> None:
        optimizers = zero_optimizers(runner)
        if not optimizers or getattr(runner.save_checkpoint, '_gathers_zero', False):
            return
        save = runner.save_checkpoint  # MMEngine's, a no-op on ranks other than 0

        @functools.wraps(save)
        def save_checkpoint(*args, **kwargs):
            for optimizer in optimizers:  # every rank: gather the shards to rank 0
                optimizer.consolidate_state_dict(to=0)
                optimizer.consolidate_state_dict = lambda to=0: None  # rank 0: gathered
            try:
                return save(*args, **kwargs)
            finally:
                for optimizer in optimizers:
                    del optimizer.consolidate_state_dict  # back to the class method

        save_checkpoint._gathers_zero = True
        runner.save_checkpoint = save_checkpoint

