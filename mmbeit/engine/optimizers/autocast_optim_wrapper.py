"""bf16 autocast training on CPU (and GPU) without a loss scaler."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmbeit.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward runs under ``torch.autocast``.

    MMEngine's ``AmpOptimWrapper`` refuses CPU. bf16 keeps fp32's exponent range, so no loss
    scaling is needed; parameters, gradients and optimizer state stay fp32.

    Args:
        dtype (str): 'bfloat16' (default) or 'float16' (GPU only sensible).
        device_type (str, optional): 'cpu' or 'cuda'; default: 'cuda' if available.
        **kwargs: ``OptimWrapper`` arguments (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, dtype: str = 'bfloat16', device_type: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if dtype not in ('bfloat16', 'float16'):
            raise ValueError(f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        self.cast_dtype = getattr(torch, dtype)
        self.device_type = device_type or ('cuda' if torch.cuda.is_available() else 'cpu')

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(self.device_type,
                                                          dtype=self.cast_dtype):
            yield


@OPTIM_WRAPPERS.register_module(name='MixedPrecisionOptimWrapper')
def mixed_precision_optim_wrapper(cpu_dtype: Optional[str] = None, **kwargs) -> OptimWrapper:
    """Mixed precision where the device has it, plain fp32 training elsewhere.

    For recipes that must run as written on GPUs and on CPU, including through mmdet's / mmseg's
    own ``tools/train.py`` (which build ``optim_wrapper`` without mmbeit's command line):

    - CUDA: MMEngine's ``AmpOptimWrapper`` with bf16 where supported, else fp16 with dynamic
      loss scaling.
    - CPU: ``OptimWrapper`` (fp32) by default. mmcv's compiled ops (NMS, RoIAlign) only take
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
        if dtype is None:
            dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
        if loss_scale is None:
            loss_scale = 'dynamic'
        return AmpOptimWrapper(dtype=dtype, loss_scale=loss_scale, **kwargs)
    if cpu_dtype is None:
        return OptimWrapper(**kwargs)
    return AutocastOptimWrapper(dtype=cpu_dtype, device_type='cpu', **kwargs)
