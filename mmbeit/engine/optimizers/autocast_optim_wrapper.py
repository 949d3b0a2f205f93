"""bf16 autocast training on CPU (and GPU) without a loss scaler, where it pays."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from torch import nn

from mmbeit.registry import OPTIM_WRAPPERS
from mmbeit.utils.cpu_precision import PRECISIONS, cpu_autocast_enabled

from .finite_optim_wrapper import FiniteOptimWrapper


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(FiniteOptimWrapper):
    """An ``OptimWrapper`` whose forward runs under ``torch.autocast`` (and which skips steps
    with non-finite gradients, as :class:`FiniteOptimWrapper`).

    MMEngine's ``AmpOptimWrapper`` refuses CPU. bf16 keeps fp32's exponent range, so no loss
    scaling is needed; parameters, gradients and optimizer state stay fp32.

    On CPU, autocast is used only where the CPU runs bf16 matmuls in hardware (AMX-BF16 /
    AVX512-BF16, :func:`mmbeit.utils.cpu_precision.cpu_bf16_is_fast`): elsewhere it is many
    times slower than fp32, so ``precision='auto'`` trains in fp32 there. The choice and its
    reason are logged once.

    Args:
        dtype (str): 'bfloat16' (default) or 'float16' (GPU only sensible).
        device_type (str, optional): 'cpu' or 'cuda'; default: 'cuda' if available.
        precision (str): 'auto' (default: autocast on GPUs and on CPUs where bf16 is fast),
            'bf16' (autocast always) or 'fp32' (never); ``tools/train.py --precision``.
        **kwargs: ``FiniteOptimWrapper`` arguments (optimizer, clip_grad,
            accumulative_counts, skip_nonfinite).
    """

    def __init__(self, dtype: str = 'bfloat16', device_type: Optional[str] = None,
                 precision: str = 'auto', **kwargs) -> None:
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        self.cast_dtype = getattr(torch, dtype)
        self.device_type = device_type or ('cuda' if torch.cuda.is_available() else 'cpu')
        if self.device_type == 'cpu':
            self.enabled, why = cpu_autocast_enabled(precision)
        else:
            self.enabled = precision != 'fp32'
            why = f'precision={precision!r} on {self.device_type}'
        what = f'{dtype} autocast' if self.enabled else 'fp32 (no autocast)'
        print_log(f'AutocastOptimWrapper: training in {what}: {why}', logger='current')

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                self.device_type, dtype=self.cast_dtype, enabled=self.enabled):
            yield


@OPTIM_WRAPPERS.register_module(name='MixedPrecisionOptimWrapper')
def mixed_precision_optim_wrapper(cpu_dtype: Optional[str] = None, **kwargs) -> OptimWrapper:
    """Mixed precision where the device has it, plain fp32 training elsewhere.

    For recipes that must run as written on GPUs and on CPU, including through mmdet's / mmseg's
    own ``tools/train.py`` (which build ``optim_wrapper`` without mmbeit's command line):

    - CUDA: MMEngine's ``AmpOptimWrapper`` with bf16 where supported, else fp16 with dynamic
      loss scaling.
    - CPU: ``FiniteOptimWrapper`` (fp32) by default. mmcv's compiled ops (NMS, RoIAlign) only take
      fp32 on CPU, so autocasting a detector there fails; set ``cpu_dtype='bfloat16'`` to get
      :class:`AutocastOptimWrapper` for models without such ops.

    Args:
        cpu_dtype (str, optional): None (fp32, default) or 'bfloat16' autocast on CPU.
        **kwargs: ``OptimWrapper`` arguments (optimizer, clip_grad, accumulative_counts);
            ``dtype`` / ``loss_scale`` are passed to ``AmpOptimWrapper`` on GPUs only.
    """
    from mmengine.optim import AmpOptimWrapper

    dtype = kwargs.pop('dtype', None)
    loss_scale = kwargs.pop('loss_scale', None)
    if torch.cuda.is_available():
        kwargs.pop('skip_nonfinite', None)  # the loss scaler skips non-finite steps there
        if dtype is None:
            dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
        if loss_scale is None:
            loss_scale = 'dynamic'
        return AmpOptimWrapper(dtype=dtype, loss_scale=loss_scale, **kwargs)
    if cpu_dtype is None:
        return FiniteOptimWrapper(**kwargs)
    kwargs.setdefault('precision', 'bf16')  # cpu_dtype names it: asked for
    return AutocastOptimWrapper(dtype=cpu_dtype, device_type='cpu', **kwargs)
