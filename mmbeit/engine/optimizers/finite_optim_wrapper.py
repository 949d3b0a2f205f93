"""An ``OptimWrapper`` that skips a step whose gradients are not finite (divergence guard)."""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

import torch
import torch.distributed as dist
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from mmbeit.registry import OPTIM_WRAPPERS

SKIPS_INFO = 'nonfinite_step_skips'  # message-hub info: steps skipped so far in this run


def grads_finite(params: Iterable[torch.nn.Parameter]) -> bool:
    """Whether every gradient entry is finite, on every rank (sharded gradients included).

    One norm per tensor (``torch._foreach_norm``, grouped by device and dtype), one host sync,
    and under ``torch.distributed`` one all-reduce of the count of non-finite tensors.
    """
    groups: Dict[Tuple[torch.device, torch.dtype], List[torch.Tensor]] = {}
    for p in params:
        if p.grad is not None:
            groups.setdefault((p.grad.device, p.grad.dtype), []).append(p.grad)
    bad = None
    for grads in groups.values():
        count = (~torch.isfinite(torch.stack(torch._foreach_norm(grads)))).sum()
        bad = count if bad is None else bad + count.to(bad.device)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        device = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'
        bad = torch.zeros((), dtype=torch.long) if bad is None else bad
        bad = bad.to(device)
        dist.all_reduce(bad)
    return bad is None or int(bad) == 0


@OPTIM_WRAPPERS.register_module(name=['FiniteOptimWrapper', 'OptimWrapper'])
class FiniteOptimWrapper(OptimWrapper):
    """MMEngine's ``OptimWrapper`` (the name it has in the mmbeit scope) that does not take a
    step whose gradients hold a NaN / inf: the weights and the optimizer state stay as they
    were, the gradients are dropped, a warning names the iteration, and the message hub's
    ``nonfinite_step_skips`` counts the skips (mmbeit's ``CheckpointHook`` stops the run after
    ``max_nonfinite_iters`` in a row).

    Args:
        skip_nonfinite (bool): check the gradients before every step (one norm per tensor).
            Defaults to True.
        **kwargs: ``OptimWrapper`` arguments (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, skip_nonfinite: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skip_nonfinite = skip_nonfinite

    def step(self, **kwargs) -> None:
        if self.skip_nonfinite and not grads_finite(self._params()):
            skips = self.message_hub.get_info(SKIPS_INFO, 0) + 1
            self.message_hub.update_info(SKIPS_INFO, skips)
            it = self.message_hub.get_info('iter')
            where = f'iteration {it + 1}' if isinstance(it, int) else 'this iteration'
            print_log(f'{where}: non-finite gradients, optimizer step skipped (weights and '
                      f'optimizer state unchanged; {skips} skipped in this run)',
                      logger='current', level=30)
            return
        super().step(**kwargs)

    def _params(self) -> List[torch.nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group['params']]
