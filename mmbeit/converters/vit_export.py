"""What an export to timm / HF transformers needs to know about an mmbeit ViT checkpoint.

:func:`read_vit_export` turns any mmbeit checkpoint holding a :class:`~mmbeit.models.BEiTViT`
(a BEiT v1 / v2 or MoCo v3 pretraining checkpoint, a fine-tuned classifier, or a converted
backbone file) into a :class:`ViTExport`: the backbone's tensors in mmbeit keys, the
classifier or MIM head where there is one, and the numbers no tensor shape holds (heads,
LayerNorm epsilon, normalisation). The numbers come from, in this order, the arguments, the
``--config`` file, the checkpoint's own config (``meta['cfg']``, which MMEngine writes) and a
converter's ``meta['arch']``; a head count found nowhere is an error.

Parts of a checkpoint that no timm / HF ViT holds (BEiT v2's aggregation layers, MoCo v3's
projector and momentum encoder, frozen tokenizers) are listed in ``left_out`` and printed by the
command lines; nothing inside the backbone is dropped without being named.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

from mmbeit.models.backbones.beit_vit import ARCH_SETTINGS, resolve_arch
from mmbeit.models.backbones.mocov3_vit import MOCOV3_ARCH_SETTINGS
from mmbeit.utils import get_state_dict, load_checkpoint, strip_prefix

from .backbone_extract import SHARED_NORM, extract_backbone

StateDict = Dict[str, torch.Tensor]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLS_HEAD_PREFIXES = ('head.fc.', 'head.layers.head.')  # LinearClsHead, VisionTransformerClsHead
LM_HEAD = 'head.lm_head.'
GENERATIONS = ('beit', 'beitv2', 'mocov3', 'vit')


@dataclass
class ViTExport:
    """An mmbeit ViT, described for export.

    Attributes:
        backbone: :class:`BEiTViT` tensors, keys without prefix (BEiT v2's shared final norm
            from its neck as ``norm.*``).
        num_heads: attention heads.
        norm_eps: LayerNorm epsilon.
        generation: 'beit' | 'beitv2' | 'mocov3' | 'vit' (picks the timm model name and the
            default normalisation).
        cls_head: ``weight`` (K, C) and ``bias`` (K,) of a linear classifier, or None.
        lm_head: ``weight`` (V, C) and ``bias`` (V,) of BEiT's MIM head, or None.
        mean, std: input normalisation in [0, 1] units (RGB).
        left_out: checkpoint parts not exported: name -> number of tensors.
        source: where it came from (for messages).
    """

    backbone: StateDict
    num_heads: int
    norm_eps: float = 1e-6
    generation: str = 'beit'
    cls_head: Optional[StateDict] = None
    lm_head: Optional[StateDict] = None
    mean: Tuple[float, ...] = IMAGENET_MEAN
    std: Tuple[float, ...] = IMAGENET_STD
    left_out: Dict[str, int] = field(default_factory=dict)
    source: str = 'checkpoint'

    def __post_init__(self) -> None:
        if 'patch_embed.proj.weight' not in self.backbone:
            raise KeyError(f'{self.source}: no patch_embed.proj.weight among the backbone keys '
                           f'({sorted(self.backbone)[:8]}...): not an mmbeit ViT')
        if self.embed_dims % self.num_heads:
            raise ValueError(f'{self.source}: num_heads {self.num_heads} does not divide '
                             f'embed_dims {self.embed_dims}')
        if self.generation not in GENERATIONS:
            raise ValueError(f'generation must be one of {GENERATIONS}, got '
                             f'{self.generation!r}')

    # ------------------------------------------------------------------ shapes
    @property
    def embed_dims(self) -> int:
        return int(self.backbone['patch_embed.proj.weight'].shape[0])

    @property
    def patch_size(self) -> int:
        return int(self.backbone['patch_embed.proj.weight'].shape[-1])

    @property
    def in_channels(self) -> int:
        return int(self.backbone['patch_embed.proj.weight'].shape[1])

    @property
    def num_layers(self) -> int:
        return 1 + max(int(m.group(1)) for k in self.backbone
                       if (m := re.match(r'^blocks\.(\d+)\.', k)))

    @property
    def mlp_hidden(self) -> int:
        return int(self.backbone['blocks.0.mlp.fc1.weight'].shape[0])

    @property
    def mlp_ratio(self) -> float:
        return self.mlp_hidden / self.embed_dims

    @property
    def qkv_bias(self) -> bool:
        return 'blocks.0.attn.q_bias' in self.backbone

    @property
    def layer_scale(self) -> bool:
        return 'blocks.0.gamma_1' in self.backbone

    @property
    def rel_pos(self) -> Optional[str]:
        """'shared', 'layer' or None."""
        if 'rel_pos_bias.relative_position_bias_table' in self.backbone:
            return 'shared'
        if 'blocks.0.rel_pos_bias.relative_position_bias_table' in self.backbone:
            return 'layer'
        return None

    @property
    def abs_pos(self) -> bool:
        return 'pos_embed' in self.backbone

    @property
    def final_norm(self) -> bool:
        return 'norm.weight' in self.backbone

    @property
    def fc_norm(self) -> bool:
        return 'fc_norm.weight' in self.backbone

    @property
    def mask_token(self) -> bool:
        return 'mask_token' in self.backbone

    @property
    def family(self) -> str:
        """'beit' (relative position bias or layer scale: timm ``Beit``, HF ``Beit*``) or
        'vit' (absolute embedding only: timm ``VisionTransformer``, HF ``ViT*``)."""
        return 'beit' if self.rel_pos or self.layer_scale else 'vit'

    @property
    def grid(self) -> Tuple[int, int]:
        """Patch grid (h, w) the position tables are for (square)."""
        if self.rel_pos:
            key = ('rel_pos_bias.relative_position_bias_table' if self.rel_pos == 'shared'
                   else 'blocks.0.rel_pos_bias.relative_position_bias_table')
            rows = self.backbone[key].shape[0] - 3
            side = (math.isqrt(rows) + 1) // 2
            if (2 * side - 1) ** 2 != rows:
                raise ValueError(f'{self.source}: {key} has {rows + 3} rows, not a square '
                                 "grid's (2s-1)^2 + 3")
            return side, side
        if self.abs_pos:
            n = self.backbone['pos_embed'].shape[1] - 1
            side = math.isqrt(n)
            if side * side != n:
                raise ValueError(f'{self.source}: pos_embed has {n} patch positions, not a '
                                 'square grid')
            return side, side
        raise ValueError(f'{self.source}: neither a position embedding nor a relative '
                         'position table: the input size is unknown')

    @property
    def img_size(self) -> int:
        return self.grid[0] * self.patch_size

    def check_one_norm(self, target: str) -> None:
        """timm and HF models hold exactly one of the final norm and the averaged-token norm."""
        if self.final_norm and self.fc_norm:
            raise ValueError(f'{self.source}: the backbone has a final norm and an '
                             f'averaged-token norm (fc_norm); {target} models hold one of them')
        if not (self.final_norm or self.fc_norm):
            raise ValueError(f'{self.source}: the backbone has no final norm (final_norm=False, '
                             f'no fc_norm); {target} models always have one')

    def arch(self) -> Dict[str, float]:
        """``meta['arch']`` of mmbeit's converters."""
        return dict(embed_dims=self.embed_dims, num_layers=self.num_layers,
                    num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                    patch_size=self.patch_size)


# ---------------------------------------------------------------------- reading a checkpoint
def _config_of(checkpoint: dict, config: Optional[str]):
    """The MMEngine config of ``--config`` or of ``meta['cfg']``; None when neither."""
    from mmengine.config import Config

    if config:
        return Config.fromfile(config)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    text = meta.get('cfg') if isinstance(meta, dict) else None
    if isinstance(text, str) and 'model' in text:
        try:
            return Config.fromstring(text, file_format='.py')
        except Exception:  # a config that needs files we do not have: fall back to shapes
            return None
    return None


def _generation(model_cfg: dict, state_dict: StateDict) -> str:
    """'beit' | 'beitv2' | 'mocov3' | 'vit' from the config, else from the keys."""
    head = (model_cfg.get('head') or {}).get('type', '') if model_cfg else ''
    backbone = (model_cfg.get('backbone') or {}).get('type', '') if model_cfg else ''
    if model_cfg.get('type') == 'MoCoV3' or backbone == 'MoCoV3ViT':
        return 'mocov3'
    if head == 'BEiTV2Head' or any(k.startswith('neck.blocks.') for k in state_dict):
        return 'beitv2'
    if head == 'BEiTV1Head' or backbone == 'BEiTViT':
        return 'beit'
    if any('rel_pos_bias' in k or '.gamma_1' in k for k in state_dict):
        return 'beit'
    return 'vit'


def _mean_std(cfg) -> Tuple[Optional[tuple], Optional[tuple]]:
    """The data preprocessor's mean / std in [0, 1] units (the model's, else the top-level one
    of mmpretrain's classification configs), None when not configured."""
    if cfg is None:
        return None, None
    pre = (cfg.get('model') or {}).get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    mean, std = pre.get('mean'), pre.get('std')
    if mean is None or std is None:
        return None, None
    scale = 255.0 if max(mean) > 1.0 or max(std) > 1.0 else 1.0
    return (tuple(round(float(m) / scale, 6) for m in mean),
            tuple(round(float(s) / scale, 6) for s in std))


def _heads_from_cfg(backbone_cfg: dict) -> Optional[int]:
    arch = backbone_cfg.get('arch', 'base')
    presets = MOCOV3_ARCH_SETTINGS if backbone_cfg.get('type') == 'MoCoV3ViT' else ARCH_SETTINGS
    try:
        return int(resolve_arch(arch, presets)['num_heads'])
    except KeyError:
        return None


def _backbone_prefix(state_dict: StateDict) -> str:
    if any(k.startswith('backbone.') for k in state_dict):
        return 'backbone.'
    return ''


def _parts_left_out(state_dict: StateDict, used: List[str]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for key in state_dict:
        if not key.startswith(tuple(used)):
            part = key.split('.', 1)[0] if '.' in key else key
            out[part] = out.get(part, 0) + 1
    return out


def read_vit_export(path: str, config: Optional[str] = None, num_heads: Optional[int] = None,
                    generation: Optional[str] = None) -> ViTExport:
    """Read an mmbeit checkpoint for export (see the module docstring).

    Args:
        path: an MMEngine checkpoint of a BEiT / BEiT v2 / MoCo v3 model or an
            ``ImageClassifier``, or a converted backbone file.
        config: an mmbeit config of the model (overrides the checkpoint's own).
        num_heads: attention heads (overrides everything else).
        generation: 'beit' | 'beitv2' | 'mocov3' | 'vit' (default: from the config / keys).

    Raises:
        KeyError: no ViT backbone in the file.
        ValueError: the head count is recorded nowhere.
    """
    checkpoint = load_checkpoint(path)
    state_dict = get_state_dict(checkpoint)
    cfg = _config_of(checkpoint, config)
    model_cfg = dict(cfg.get('model') or {}) if cfg is not None else {}
    backbone_cfg = dict(model_cfg.get('backbone') or {})
    prefix = _backbone_prefix(state_dict)
    # BEiT v2 keeps its final norm in the neck: extract_backbone gives it to the backbone
    backbone = extract_backbone(state_dict, prefix, drop=())
    used = [prefix] if prefix else list(state_dict)
    if prefix and not any(k.startswith(prefix + 'norm.') for k in state_dict):
        used.append(SHARED_NORM)
    cls_head = lm_head = None
    for head_prefix in CLS_HEAD_PREFIXES:
        if any(k.startswith(head_prefix) for k in state_dict):
            cls_head = strip_prefix(state_dict, head_prefix)
            used.append(head_prefix)
    if any(k.startswith(LM_HEAD) for k in state_dict):
        lm_head = strip_prefix(state_dict, LM_HEAD)
        used.append(LM_HEAD)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    recorded = ((meta or {}).get('arch') or {}).get('num_heads') if isinstance(meta, dict) \
        else None
    heads = num_heads or (_heads_from_cfg(backbone_cfg) if backbone_cfg else None) or recorded
    if not heads:
        raise ValueError(f'{path}: the head count is recorded nowhere (no config in the '
                         "checkpoint's meta, no meta['arch']); pass --num-heads or --config")
    mean, std = _mean_std(cfg)
    gen = generation or _generation(model_cfg, state_dict)
    return ViTExport(
        backbone=backbone, num_heads=int(heads),
        norm_eps=float(backbone_cfg.get('norm_eps', 1e-6)), generation=gen,
        cls_head=cls_head, lm_head=lm_head,
        mean=mean or IMAGENET_MEAN, std=std or IMAGENET_STD,
        left_out=_parts_left_out(state_dict, used), source=str(path))


def backbone_config(backbone: StateDict, num_heads: int, norm_eps: float = 1e-6
                    ) -> Tuple[Dict[str, object], Dict[str, float]]:
    """The :class:`BEiTViT` config that loads ``backbone`` (mmbeit keys) strictly, and its
    ``meta['arch']``."""
    export = ViTExport(backbone=dict(backbone), num_heads=num_heads, norm_eps=norm_eps,
                       source='the converted backbone')
    arch = export.arch()
    preset = next((name for name, p in ARCH_SETTINGS.items()
                   if all(float(p[k]) == float(arch[k]) for k in p)), None)
    cfg: Dict[str, object] = dict(
        type='BEiTViT',
        arch=preset or {k: arch[k] for k in ('embed_dims', 'num_layers', 'num_heads',
                                             'mlp_ratio')},
        img_size=export.img_size, patch_size=export.patch_size,
        pos_embed='learned' if export.abs_pos else None,
        use_rel_pos_bias=export.rel_pos == 'layer',
        use_shared_rel_pos_bias=export.rel_pos == 'shared',
        layer_scale_init_value=0.1 if export.layer_scale else 0.0, qkv_bias=export.qkv_bias,
        with_mask_token=export.mask_token, final_norm=export.final_norm,
        avg_token_norm=export.fc_norm,
        out_type='avg_featmap' if export.fc_norm else 'cls_token')
    if export.in_channels != 3:
        cfg['in_channels'] = export.in_channels
    if norm_eps != 1e-6:
        cfg['norm_eps'] = norm_eps
    return cfg, arch
