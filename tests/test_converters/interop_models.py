"""Small mmbeit checkpoints of every exported family, as training runs write them (test helper).

Each is an MMEngine-style file: ``state_dict`` under the model's own prefixes and ``meta['cfg']``
holding the model config's text (what MMEngine's runner records), with every tensor random
(layer scales and relative position tables far from their init) so that a misplaced tensor
changes the output.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from mmengine.config import Config

from mmbeit.models.backbones import BEiTViT, MoCoV3ViT

C, HEADS, DEPTH, PATCH, IMG, VOCAB, CLASSES = 32, 4, 2, 4, 16, 24, 5
ARCH = dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS)
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]

BEIT_V1 = dict(type='BEiTViT', arch=ARCH, img_size=IMG, patch_size=PATCH, with_mask_token=True,
               use_shared_rel_pos_bias=True, layer_scale_init_value=0.1)
BEIT_V2 = dict(BEIT_V1, final_norm=False, out_indices=[0, DEPTH - 1])
BEIT_FT = dict(type='BEiTViT', arch=ARCH, img_size=IMG, patch_size=PATCH, use_rel_pos_bias=True,
               use_shared_rel_pos_bias=False, final_norm=False, avg_token_norm=True,
               out_type='avg_featmap')
MOCOV3 = dict(type='MoCoV3ViT', arch=ARCH, img_size=IMG, patch_size=PATCH)


def randomize_(module: torch.nn.Module, seed: int, std: float = 0.2) -> torch.nn.Module:
    """Every parameter random (N(0, std), LayerNorm weights around 1), in place."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
            if name.endswith('weight') and p.ndim == 1 and 'norm' in name:
                p.add_(1.0)
    return module


def build_backbone(cfg: dict, seed: int = 0, std: float = 0.2) -> torch.nn.Module:
    cfg = dict(cfg)
    cls = {'BEiTViT': BEiTViT, 'MoCoV3ViT': MoCoV3ViT}[cfg.pop('type')]
    return randomize_(cls(**cfg), seed, std).eval()


def _linear(rows: int, seed: int) -> Dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return dict(weight=torch.randn(rows, C, generator=g) * 0.2,
                bias=torch.randn(rows, generator=g) * 0.2)


def _save(path, state: Dict[str, torch.Tensor], model_cfg: dict, **top) -> None:
    cfg = Config(dict(model=model_cfg, **top))
    torch.save(dict(state_dict=state, meta=dict(cfg=cfg.pretty_text, epoch=1)), path)


def _prefixed(prefix: str, tensors: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in tensors.items()}


def beit_v1_checkpoint(path) -> Tuple[torch.nn.Module, Dict[str, torch.Tensor]]:
    """BEiT v1 pretraining: backbone (final norm, mask token, shared bias) + MIM head +
    frozen dVAE; returns (backbone, lm head)."""
    backbone = build_backbone(BEIT_V1, 1)
    lm = _linear(VOCAB, 2)
    state = {**_prefixed('backbone.', backbone.state_dict()),
             **_prefixed('head.lm_head.', lm),
             'target_generator.encoder.weight': torch.zeros(3)}
    _save(path, state, dict(type='BEiT', backbone=BEIT_V1,
                            data_preprocessor=dict(mean=MEAN, std=STD),
                            head=dict(type='BEiTV1Head', embed_dims=C, num_tokens=VOCAB)))
    return backbone, lm


def beit_v2_checkpoint(path) -> Tuple[torch.nn.Module, Dict[str, torch.Tensor]]:
    """BEiT v2 pretraining: backbone without final norm, the neck's shared norm and
    aggregation block, both MIM heads; returns (backbone, final norm as a LayerNorm)."""
    backbone = build_backbone(BEIT_V2, 3)
    norm = randomize_(torch.nn.LayerNorm(C, eps=1e-6), 4)
    state = {**_prefixed('backbone.', backbone.state_dict()),
             **_prefixed('neck.norm.', norm.state_dict()),
             'neck.blocks.0.norm1.weight': torch.ones(C),
             **_prefixed('head.lm_head.', _linear(VOCAB, 5)),
             **_prefixed('head.lm_head_agg.', _linear(VOCAB, 6))}
    _save(path, state, dict(type='BEiT', backbone=BEIT_V2,
                            neck=dict(type='PatchAggregationNeck'),
                            head=dict(type='BEiTV2Head', embed_dims=C, num_tokens=VOCAB)))
    return backbone, norm


def classifier_checkpoint(path, backbone_cfg: dict, seed: int = 7
                          ) -> Tuple[torch.nn.Module, Dict[str, torch.Tensor]]:
    """An mmpretrain ``ImageClassifier``: backbone + ``LinearClsHead`` (``head.fc``)."""
    backbone = build_backbone(backbone_cfg, seed)
    fc = _linear(CLASSES, seed + 1)
    state = {**_prefixed('backbone.', backbone.state_dict()), **_prefixed('head.fc.', fc)}
    _save(path, state, dict(type='ImageClassifier', backbone=backbone_cfg,
                            head=dict(type='LinearClsHead', num_classes=CLASSES,
                                      in_channels=C)),
          data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3))  # mmpretrain: top level
    return backbone, fc


def mocov3_checkpoint(path) -> torch.nn.Module:
    """MoCo v3 pretraining: query backbone, projector, predictor and momentum encoder."""
    backbone = build_backbone(MOCOV3, 9)
    state = {**_prefixed('backbone.', backbone.state_dict()),
             'neck.mlp.0.weight': torch.zeros(8, C), 'head.predictor.0.weight': torch.zeros(8),
             **_prefixed('momentum_encoder.backbone.', backbone.state_dict())}
    _save(path, state, dict(type='MoCoV3', backbone=MOCOV3,
                            data_preprocessor=dict(mean=MEAN, std=STD)))
    return backbone


def images(n: int = 2, seed: int = 11) -> torch.Tensor:
    return torch.randn(n, 3, IMG, IMG, generator=torch.Generator().manual_seed(seed))


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """max |got - want| / max |want|."""
    return float((got - want).abs().max() / want.abs().max())
