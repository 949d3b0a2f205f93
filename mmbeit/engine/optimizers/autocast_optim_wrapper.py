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
