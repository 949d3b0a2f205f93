"""mmbeit ViTs <-> timm 1.0 state dicts, both ways, every tensor accounted for.

timm ``Beit`` (BEiT v1 / v2: relative position bias, layer scale) has mmbeit's backbone names
except one: a per-layer table is ``blocks.N.attn.relative_position_bias_table`` (mmbeit:
``blocks.N.rel_pos_bias.relative_position_bias_table``). A shared table is copied into every
block by default, so that timm's registered ``beit*`` / ``beitv2*`` models (per-layer tables)
load the file; ``share_rel_pos_bias=True`` keeps it shared (``use_shared_rel_pos_bias=True``).

timm ``VisionTransformer`` (MoCo v3) learns a (3C,) ``attn.qkv.bias``; mmbeit learns q and v
biases only (a k bias adds the same logit to every key of a query, which softmax removes). The
export writes a zero k third; the import drops it, saying so when it is not zero.

Neither timm model has a mask token: the export leaves it out and says so. A classifier's
``head.fc`` is timm's ``head``. The printed ``timm.create_model`` call rebuilds the exact model:
the registered name plus whatever differs from that name's defaults.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

from mmbeit.utils.key_maps import convert_timm_vit, strip_prefix

from .backbone_extract import SHARED_TABLE
from .unilm_beit import convert_unilm_beit
from .vit_export import ViTExport

StateDict = Dict[str, torch.Tensor]
_BLOCK = re.compile(r'^blocks\.(\d+)\.(.+)$')
_COMMON = re.compile(r'^(cls_token|pos_embed|patch_embed\.proj\.(weight|bias)'
                     r'|(norm|fc_norm)\.(weight|bias))$')
_BLOCK_COMMON = re.compile(r'^((norm1|norm2|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)'
                           r'|attn\.qkv\.weight)$')
_BEIT_BLOCK_ONLY = ('attn.q_bias', 'attn.v_bias', 'gamma_1', 'gamma_2')

# timm 1.0 model defaults: the registered function's arguments over the class defaults
_BEIT_CLASS = dict(num_classes=1000, img_size=224, patch_size=16, in_chans=3, mlp_ratio=4.0,
                   qkv_bias=True,
                   use_abs_pos_emb=True, use_rel_pos_bias=False, use_shared_rel_pos_bias=False,
                   init_values=None, global_pool='avg')
_BEIT_MODELS = {
    'beit_base_patch16_224': dict(embed_dim=768, depth=12, num_heads=12, use_abs_pos_emb=False,
                                  use_rel_pos_bias=True, init_values=0.1),
    'beit_base_patch16_384': dict(img_size=384, embed_dim=768, depth=12, num_heads=12,
                                  use_abs_pos_emb=False, use_rel_pos_bias=True, init_values=0.1),
    'beit_large_patch16_224': dict(embed_dim=1024, depth=24, num_heads=16, use_abs_pos_emb=False,
                                   use_rel_pos_bias=True, init_values=1e-5),
    'beit_large_patch16_384': dict(img_size=384, embed_dim=1024, depth=24, num_heads=16,
                                   use_abs_pos_emb=False, use_rel_pos_bias=True,
                                   init_values=1e-5),
    'beit_large_patch16_512': dict(img_size=512, embed_dim=1024, depth=24, num_heads=16,
                                   use_abs_pos_emb=False, use_rel_pos_bias=True,
                                   init_values=1e-5),
    'beitv2_base_patch16_224': dict(embed_dim=768, depth=12, num_heads=12,
                                    use_abs_pos_emb=False, use_rel_pos_bias=True,
                                    init_values=1e-5),
    'beitv2_large_patch16_224': dict(embed_dim=1024, depth=24, num_heads=16,
                                     use_abs_pos_emb=False, use_rel_pos_bias=True,
                                     init_values=1e-5),
}
_VIT_CLASS = dict(num_classes=1000, img_size=224, patch_size=16, in_chans=3, mlp_ratio=4.0,
                  qkv_bias=True,
                  init_values=None, global_pool='token')
_VIT_MODELS = {
    'vit_tiny_patch16_224': dict(embed_dim=192, depth=12, num_heads=3),
    'vit_small_patch16_224': dict(embed_dim=384, depth=12, num_heads=6),
    'vit_base_patch16_224': dict(embed_dim=768, depth=12, num_heads=12),
    'vit_large_patch16_224': dict(embed_dim=1024, depth=24, num_heads=16),
}
TIMM_MODELS = {**{k: {**_BEIT_CLASS, **v} for k, v in _BEIT_MODELS.items()},
               **{k: {**_VIT_CLASS, **v} for k, v in _VIT_MODELS.items()}}
# layer scale present: any value builds the parameters, which the file then overwrites
LAYER_SCALE = 0.1
_SIZES = {(192, 12): 'tiny', (384, 12): 'small', (768, 12): 'base', (1024, 24): 'large'}


@dataclass
class TimmExport:
    """A timm state dict and the ``timm.create_model`` call that loads it strictly."""

    state_dict: StateDict
    model_name: str
    kwargs: Dict[str, object]
    pretrained_cfg: Dict[str, object]
    dropped: List[str] = field(default_factory=list)

    def create_model_call(self) -> str:
        args = ''.join(f', {k}={v!r}' for k, v in self.kwargs.items())
        return f"timm.create_model({self.model_name!r}, pretrained=False{args})"


# ---------------------------------------------------------------------- mmbeit -> timm
def _beit_key(key: str, value: torch.Tensor, num_layers: int, share: bool
              ) -> List[Tuple[str, torch.Tensor]]:
    if key == SHARED_TABLE:
        if share:
            return [(key, value)]
        return [(f'blocks.{i}.attn.relative_position_bias_table', value.clone())
                for i in range(num_layers)]
    match = _BLOCK.match(key)
    if match and match.group(2) == SHARED_TABLE:
        return [(f'blocks.{match.group(1)}.attn.relative_position_bias_table', value)]
    if match and (match.group(2) in _BEIT_BLOCK_ONLY or _BLOCK_COMMON.match(match.group(2))):
        return [(key, value)]
    if _COMMON.match(key):
        return [(key, value)]
    raise KeyError(key)


def _vit_key(key: str, value: torch.Tensor, backbone: StateDict
             ) -> List[Tuple[str, torch.Tensor]]:
    match = _BLOCK.match(key)
    if match:
        stem, rest = f'blocks.{match.group(1)}.', match.group(2)
        if rest == 'attn.q_bias':
            v_bias = backbone[stem + 'attn.v_bias']
            return [(stem + 'attn.qkv.bias', torch.cat([value, torch.zeros_like(value), v_bias]))]
        if rest == 'attn.v_bias':
            return []  # written with q_bias
        if _BLOCK_COMMON.match(rest):
            return [(key, value)]
    if _COMMON.match(key):
        return [(key, value)]
    raise KeyError(key)


def _pool(export: ViTExport) -> str:
    export.check_one_norm('timm')
    return 'avg' if export.fc_norm else 'token'


def _wanted_kwargs(export: ViTExport, share: bool) -> Dict[str, object]:
    num_classes = 0 if export.cls_head is None else int(export.cls_head['weight'].shape[0])
    kwargs: Dict[str, object] = dict(
        img_size=export.img_size, patch_size=export.patch_size, in_chans=export.in_channels,
        embed_dim=export.embed_dims, depth=export.num_layers, num_heads=export.num_heads,
        mlp_ratio=export.mlp_ratio, qkv_bias=export.qkv_bias, global_pool=_pool(export))
    if export.family == 'beit':  # ('vit': no layer scale, no relative position bias)
        kwargs.update(use_abs_pos_emb=export.abs_pos,
                      use_rel_pos_bias=export.rel_pos == 'layer' or
                      (export.rel_pos == 'shared' and not share),
                      use_shared_rel_pos_bias=export.rel_pos == 'shared' and share,
                      init_values=LAYER_SCALE if export.layer_scale else None)
    return {'num_classes': num_classes, **kwargs}


def timm_model_name(export: ViTExport) -> str:
    """The registered timm name closest to ``export`` (its differences become kwargs)."""
    size = _SIZES.get((export.embed_dims, export.num_layers), 'base')
    if export.family == 'vit':
        return f'vit_{size}_patch16_224'
    size = size if size in ('base', 'large') else 'base'
    prefix = 'beitv2' if export.generation == 'beitv2' else 'beit'
    name = f'{prefix}_{size}_patch16_{export.img_size}'
    return name if name in TIMM_MODELS else f'{prefix}_{size}_patch16_224'


def _differences(wanted: Dict[str, object], defaults: Dict[str, object]) -> Dict[str, object]:
    out: Dict[str, object] = {}
    for key, value in wanted.items():
        default = defaults.get(key)
        if key == 'init_values':  # any value: the file overwrites the layer scales
            if (value is None) != (default is None):
                out[key] = value
            continue
        if isinstance(value, float) and isinstance(default, (int, float)) and \
                abs(value - float(default)) < 1e-9:
            continue
        if value != default:
            out[key] = value
    return out


def mmbeit_to_timm(export: ViTExport, model_name: Optional[str] = None,
                   share_rel_pos_bias: bool = False) -> TimmExport:
    """Export an mmbeit ViT to a timm state dict.

    Args:
        export: the model (:func:`~mmbeit.converters.vit_export.read_vit_export`).
        model_name: a registered timm name (default: :func:`timm_model_name`); the kwargs that
            rebuild ``export`` on top of it are returned.
        share_rel_pos_bias: keep a shared relative position table shared (timm
            ``use_shared_rel_pos_bias=True``) instead of copying it into every block.

    Raises:
        KeyError: a backbone tensor of no timm layout (named).
        ValueError: a model timm cannot hold (both norms, LayerNorm eps other than 1e-6).
    """
    if abs(export.norm_eps - 1e-6) > 1e-12:
        raise ValueError(f'{export.source}: LayerNorm eps {export.norm_eps:g}; timm builds '
                         '1e-6 (pass norm_layer yourself to change it)')
    model_name = model_name or timm_model_name(export)
    out: StateDict = OrderedDict()
    dropped: List[str] = []
    unknown: List[str] = []
    for key, value in export.backbone.items():
        if key == 'mask_token':
            dropped.append('mask_token (MIM pretraining only; timm models have none)')
            continue
        try:
            if export.family == 'beit':
                pairs = _beit_key(key, value, export.num_layers, share_rel_pos_bias)
            else:
                pairs = _vit_key(key, value, export.backbone)
        except KeyError:
            unknown.append(key)
            continue
        out.update(pairs)
    if unknown:
        raise KeyError(f'{export.source}: backbone tensors of no timm '
                       f'{"Beit" if export.family == "beit" else "VisionTransformer"} layout '
                       f'({len(unknown)}): {", ".join(unknown[:20])}')
    if export.cls_head is not None:
        out['head.weight'] = export.cls_head['weight']
        out['head.bias'] = export.cls_head['bias']
    if export.lm_head is not None:
        dropped.append('head.lm_head (BEiT MIM head; timm models have none: use mmbeit2hf.py)')
    wanted = _wanted_kwargs(export, share_rel_pos_bias)
    if model_name in TIMM_MODELS:
        kwargs = _differences(wanted, TIMM_MODELS[model_name])
    else:
        kwargs = wanted
    pretrained_cfg = dict(input_size=(export.in_channels, export.img_size, export.img_size),
                          interpolation='bicubic', mean=tuple(export.mean),
                          std=tuple(export.std), crop_pct=0.9)
    return TimmExport(out, model_name, kwargs, pretrained_cfg, dropped)


# ---------------------------------------------------------------------- timm -> mmbeit
def timm_family(state_dict: StateDict) -> str:
    """'beit' for timm ``Beit`` keys, 'vit' for ``VisionTransformer`` keys."""
    if any(k.endswith(('attn.q_bias', 'relative_position_bias_table', '.gamma_1'))
           for k in state_dict):
        return 'beit'
    return 'vit'


def timm_to_mmbeit(state_dict: StateDict) -> Tuple[StateDict, Optional[StateDict], List[str]]:
    """A timm ``Beit`` / ``VisionTransformer`` state dict -> mmbeit.

    timm's ``Beit`` keys are the unilm release layout (:func:`convert_unilm_beit` reads them);
    a ``VisionTransformer`` is what :func:`~mmbeit.utils.key_maps.convert_timm_vit` reads, plus
    ``fc_norm`` and layer scales (``ls1.gamma`` / ``ls2.gamma``).

    Returns:
        (backbone keys of :class:`BEiTViT`, classifier ``{'weight', 'bias'}`` or None, what was
        dropped and why).

    Raises:
        KeyError: tensors of no known layout (named); nothing is dropped silently.
    """
    if timm_family(state_dict) == 'beit':
        converted, buffers = convert_unilm_beit(state_dict)
        head = strip_prefix(converted, 'head.fc.')
        return (strip_prefix(converted, 'backbone.'), head or None,
                [f'{k} (index buffer, rebuilt by mmbeit)' for k in buffers])
    head = strip_prefix(state_dict, 'head.')
    vit: StateDict = OrderedDict()
    extra: StateDict = OrderedDict()
    dropped: List[str] = []
    for key, value in state_dict.items():
        match = _BLOCK.match(key)
        if key.startswith('head.'):
            continue
        if key.startswith('fc_norm.'):
            extra[key] = value
        elif match and match.group(2) in ('ls1.gamma', 'ls2.gamma'):
            extra[f'blocks.{match.group(1)}.gamma_{match.group(2)[2]}'] = value
        else:
            vit[key] = value
        if key.endswith('attn.qkv.bias'):
            c = value.shape[0] // 3
            if torch.count_nonzero(value[c:2 * c]):
                dropped.append(f'{key}[{c}:{2 * c}] (the k bias: softmax removes it)')
    backbone, unknown = convert_timm_vit(vit)
    if unknown:
        raise KeyError(f'timm tensors of no known layout ({len(unknown)}): '
                       f'{", ".join(unknown[:20])}')
    backbone.update(extra)
    return backbone, (head or None), dropped
