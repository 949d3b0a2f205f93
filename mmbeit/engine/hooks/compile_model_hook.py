"""``torch.compile`` of the model's forward (the loss), with the optimizer step left eager.

MMEngine's ``compile=True`` compiles the whole ``train_step``; with torch 2.13 dynamo fails
inside the optimizer wrapper's ``step`` (``InternalTorchDynamoError``), so ``tools/train.py``
turns the config's ``compile`` into this hook: the forward and backward of the loss are compiled,
the (fused) optimizer runs as is.
"""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmbeit.registry import HOOKS


@HOOKS.register_module()
class CompileModelHook(Hook):
    """Replace ``model.forward`` (inside DDP / FSDP wrappers) by ``torch.compile(forward)``.

    Args:
        **compile_kwargs: passed to ``torch.compile`` (``backend``, ``mode``, ``dynamic``, ...).
    """

    priority = 'VERY_HIGH'

    def __init__(self, **compile_kwargs) -> None:
        self.compile_kwargs = compile_kwargs

    def before_run(self, runner: Runner) -> None:
        import torch

        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.forward = torch.compile(model.forward, **self.compile_kwargs)
        runner.logger.info(f'torch.compile({type(model).__name__}.forward, '
                           f'{self.compile_kwargs or "defaults"})')
