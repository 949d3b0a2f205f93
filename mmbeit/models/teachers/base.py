"""Frozen feature teachers for VQ-KD: eval mode always, no gradients, not in checkpoints."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

from mmbeit.utils import load_checkpoint, load_state_dict_report
from mmbeit.utils.checkpoint import RANDOM_WEIGHTS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrozenTeacher(BaseModule):
    """Base of the teachers: images in [0, 1] -> patch features (B, N, C), frozen.

    Subclasses build their network, set ``out_dims``, implement :meth:`extract` (normalised
    images -> (B, N, C)) and :meth:`convert_checkpoint` (loaded file -> own keys), then call
    :meth:`finish_init`. The teacher stays in eval mode whatever ``train()`` asks, its
    parameters never require gradients, and its tensors are left out of the parent model's
    state dict (the teacher is rebuilt from its own checkpoint, not saved with the student).

    Args:
        mean, std (Sequence[float]): the teacher's input normalisation on [0, 1] images.
        checkpoint (str, optional): local checkpoint file; None keeps a random init (tests,
            benchmarks) and warns; ``'random'`` asks for one (``tools/train.py`` refuses None).
    """

    out_dims: int

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 checkpoint: Optional[str] = None) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.checkpoint = checkpoint

    def finish_init(self) -> None:
        """Load the checkpoint (or init randomly), then freeze."""
        if self.checkpoint in (None, RANDOM_WEIGHTS):
            self.random_init()
            print_log(f'{type(self).__name__}: random weights ('
                      + ('asked for' if self.checkpoint else 'no checkpoint given') + ')',
                      logger='current', level=20 if self.checkpoint else 30)
        else:
            state_dict = self.convert_checkpoint(load_checkpoint(self.checkpoint))
            load_state_dict_report(self, state_dict, source=f'{self.checkpoint}')
        self.requires_grad_(False)
        self.eval()
        self._is_init = True
        self._register_state_dict_hook(_drop_own_keys)
        self._register_load_state_dict_pre_hook(_keep_own_tensors, with_module=True)

    def teacher_state_dict(self) -> Dict[str, torch.Tensor]:
        """The teacher's own tensors (``state_dict()`` leaves them out)."""
        return _own_tensors(self)

    def random_init(self) -> None:
        """Random weights for a teacher without checkpoint."""

    def convert_checkpoint(self, checkpoint: dict) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def train(self, mode: bool = True) -> FrozenTeacher:
        return super().train(False)

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> patch features (B, N, C)."""
        return self.extract((images - self.mean.to(images.dtype)) / self.std.to(images.dtype))


def _drop_own_keys(module, state_dict, prefix, local_metadata):
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]
    return state_dict


def _own_tensors(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Parameters and persistent buffers by state-dict name, hooks bypassed."""
    out = {}
    for name, m in module.named_modules():
        pre = name + '.' if name else ''
        for key, p in m._parameters.items():
            if p is not None:
                out[pre + key] = p.detach()
        for key, b in m._buffers.items():
            if b is not None and key not in m._non_persistent_buffers_set:
                out[pre + key] = b
    return out


def _keep_own_tensors(module, state_dict, prefix, *args) -> None:
    """Loading a parent's checkpoint keeps the teacher as it is (its keys are not saved)."""
    for key, value in _own_tensors(module).items():
        state_dict[prefix + key] = value
