"""Frozen features of a backbone checkpoint on an image-folder dataset (for kNN / linear probe)."""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.registry import init_default_scope
from PIL import Image

from mmbeit.models.backbones.pretrained import load_backbone_part
from mmbeit.models.utils.pooling import check_backbone_pooling, pool_features
from mmbeit.registry import MODELS
from mmbeit.utils import load_state_dict_file


def load_images(dataset, size: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """All images of an mmpretrain image-folder dataset as (N, 3, H, W) uint8 and (N,) labels."""
    imgs, labels = [], []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img = Image.open(info['img_path']).convert('RGB')
        if size is not None and img.size != (size, size):
            img = img.resize((size, size), Image.BICUBIC)
        imgs.append(np.asarray(img))
        labels.append(int(info['gt_label']))
    return (torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous(),
            torch.tensor(labels))


def build_backbone(cfg: dict, checkpoint: Optional[str] = None,
                   prefix: str = 'backbone.') -> torch.nn.Module:
    """Build a registered backbone and (optionally) load the ``prefix`` part of a checkpoint."""
    init_default_scope('mmbeit')
    backbone = MODELS.build(cfg)
    if checkpoint is not None:
        load_backbone_part(backbone, load_state_dict_file(checkpoint), prefix, checkpoint)
    return backbone.eval()


@torch.no_grad()
def backbone_features(backbone: torch.nn.Module, images: torch.Tensor, pooling: str,
                      mean: Tuple[float, ...] = (127.5, 127.5, 127.5),
                      std: Tuple[float, ...] = (127.5, 127.5, 127.5),
                      batch_size: int = 256) -> torch.Tensor:
    """(N, C) features: the backbone's last output, pooled by ``pooling``.

    Args:
        images: (N, 3, H, W) uint8.
        pooling: 'cls', 'mean_patch' or 'cls_mean_patch' (:mod:`mmbeit.models.utils.pooling`).
    """
    check_backbone_pooling(backbone, pooling)
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    out = []
    for start in range(0, len(images), batch_size):
        x = (images[start:start + batch_size].float() - mean_t) / std_t
        out.append(pool_features(backbone(x), pooling).float())
    return torch.cat(out)
