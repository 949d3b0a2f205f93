"""A tiny BEiT v2 pretraining checkpoint (the algorithm's full state dict) -> backbone file."""
from __future__ import annotations

from pathlib import Path

import torch
from mmengine import Config
from mmengine.registry import init_default_scope

from tools.model_converters.extract_backbone import main as extract_main

REPO = Path(__file__).resolve().parents[2]
TINY_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2)


def tiny_beitv2_backbone_checkpoint(tmp_path: Path) -> Path:
    """Save a tiny ``BEiTV2`` algorithm (digits config, patch 16) and extract its backbone.

    Returns the path of the backbone-only file with ``backbone.`` keys and per-block tables.
    """
    from mmbeit.registry import MODELS

    cfg = Config.fromfile(str(REPO / 'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py'))
    model_cfg = cfg.model
    model_cfg.backbone.update(arch=TINY_ARCH, img_size=64, patch_size=16, out_indices=[2, 3])
    model_cfg.neck.update(embed_dims=32, num_heads=2, early_layers=3)
    model_cfg.head.update(embed_dims=32)
    init_default_scope('mmbeit')
    model = MODELS.build(model_cfg)
    model.init_weights()
    src, dst = tmp_path / 'beitv2_pretrain.pth', tmp_path / 'beitv2_backbone.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), src)
    extract_main([str(src), str(dst), '--prefix', 'backbone.', '--unshare-rel-pos-bias'])
    return dst
