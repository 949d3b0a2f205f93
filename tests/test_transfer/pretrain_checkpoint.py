"""What the transfer tests share: a tiny BEiT v2 pretraining checkpoint (the algorithm's full
state dict) -> backbone file, the mmdet / mmseg recipe shrunk onto it, and its 2-iteration run."""
from __future__ import annotations

from pathlib import Path
from typing import Tuple

import torch
from mmengine import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tools.model_converters.extract_backbone import main as extract_main

REPO = Path(__file__).resolve().parents[2]
TINY_ARCH = dict(embed_dims=32, num_layers=4, num_heads=2)
TINY_DIMS = TINY_ARCH['embed_dims']  # the width of every backbone feature map
TRANSFER_CONFIGS = dict(  # the recipes the transfer tests shrink
    mmdet='configs/benchmarks/mmdetection/'
    'mask-rcnn_beitv2-vit-base-p16_adapter-fpn_8xb2-lsj-36e_coco.py',
    mmseg='configs/benchmarks/mmsegmentation/'
    'upernet_beitv2-vit-base-p16_adapter_8xb2-160k_ade20k-512x512.py')


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


def tiny_transfer_config(tmp_path: Path, task: str, img_size) -> Tuple[Config, Path]:
    """The transfer recipe of ``task`` ('mmdet' or 'mmseg') with the tiny backbone at
    ``img_size``, four feature maps, no drop path, initialised from a freshly extracted tiny
    BEiT v2 backbone file. Returns the config and that file."""
    ckpt = tiny_beitv2_backbone_checkpoint(tmp_path)
    cfg = Config.fromfile(str(REPO / TRANSFER_CONFIGS[task]))
    cfg.model.backbone.update(arch=TINY_ARCH, img_size=img_size, out_indices=[0, 1, 2, 3],
                              drop_path_rate=0.0)
    cfg.model.backbone.init_cfg.checkpoint = str(ckpt)
    return cfg, ckpt


def train_two_iters(cfg: Config, tmp_path: Path, ckpt: Path, param: str) -> Runner:
    """Train ``cfg`` (its loaders stop after 2 iterations) at a constant lr, logging each one,
    as mmdet's / mmseg's own tools/train.py do (``Runner.from_cfg`` on the recipe's
    optim_wrapper: ``mmbeit.MixedPrecisionOptimWrapper``, AMP on GPUs, fp32 on CPU where mmcv
    ops need it). Checks that 2 iterations ran and that backbone parameter ``param`` started
    from the checkpoint (2 small steps away from it); returns the runner."""
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)
    runner.train()
    if not torch.cuda.is_available():
        # fp32 on CPU: mmbeit's finite-step OptimWrapper, no autocast
        assert type(runner.optim_wrapper).__name__ == 'FiniteOptimWrapper'
    assert runner.iter == 2
    loaded = torch.load(ckpt, weights_only=True)['state_dict']
    torch.testing.assert_close(runner.model.backbone.get_parameter(param).detach(),
                               loaded['backbone.' + param], atol=2e-3, rtol=0)
    return runner
