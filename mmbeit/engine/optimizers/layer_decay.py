"""Layer-wise learning-rate decay for ViT fine-tuning (classification, detection, segmentation).

Parameter ``p`` of backbone layer ``i`` (embeddings 0, block ``k`` -> ``k + 1``, everything after
the last block and every non-backbone parameter ``L + 1``) trains with
``lr * decay ** (L + 1 - i)``, ``L`` the number of blocks. The layer of a backbone parameter
comes from the backbone's own ``get_layer_depth(name, prefix)`` (mmbeit's ``BEiTViT`` and its
subclasses, mmpretrain's ViTs) or, for other ViTs, from the ``blocks.N`` / ``layers.N`` names.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from mmengine.logging import MMLogger
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from mmbeit.registry import OPTIM_WRAPPER_CONSTRUCTORS

EMBEDDING_NAMES = ('cls_token', 'mask_token', 'pos_embed', 'patch_embed', 'absolute_pos_embed',
                   'dist_token', 'register_tokens')
NO_DECAY_NAMES = ('cls_token', 'mask_token', 'pos_embed', 'absolute_pos_embed', 'dist_token',
                  'relative_position_bias_table', 'gamma', 'register_tokens')
_BLOCK_RE = re.compile(r'^(?:blocks|layers)\.(\d+)\.')


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DDP / FSDP-style wrappers (``.module``)."""
    while hasattr(model, 'module') and isinstance(model.module, nn.Module):
        model = model.module
    return model


def count_blocks(backbone: nn.Module) -> int:
    """Number of transformer blocks L of a ViT backbone."""
    for attr in ('num_layers', 'depth'):
        value = getattr(backbone, attr, None)
        if isinstance(value, int):
            return value
    for attr in ('blocks', 'layers'):
        blocks = getattr(backbone, attr, None)
        if isinstance(blocks, nn.ModuleList):
            return len(blocks)
    raise AttributeError(f'cannot tell the depth of {type(backbone).__name__}: it has no '
                         '`num_layers`, `blocks` or `layers`')


def layer_id_from_name(name: str, num_blocks: int) -> int:
    """Layer id of a backbone parameter name (no prefix) for timm / mmpretrain / mmbeit ViTs."""
    if name.startswith(EMBEDDING_NAMES):
        return 0
    match = _BLOCK_RE.match(name)
    if match:
        return int(match.group(1)) + 1
    return num_blocks + 1


def is_no_decay(name: str, param: nn.Parameter, extra_names: Tuple[str, ...] = ()) -> bool:
    """Norms, biases, layer-scale gammas (all 1-D), tokens, position embeddings and tables."""
    if param.ndim <= 1:
        return True
    leaf = name.rsplit('.', 1)[-1]
    return any(n in name.split('.') or leaf.startswith(n) for n in NO_DECAY_NAMES + extra_names)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise lr decay and no weight decay on 1-D / token / position parameters.

    Use it from any config (mmpretrain, mmdet, mmseg) as::

        optim_wrapper = dict(
            type='OptimWrapper',   # or 'AmpOptimWrapper'
            optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.05),
            constructor='mmbeit.LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.65))

    ``paramwise_cfg``:
        layer_decay_rate (float): the decay; 1.0 disables it. Required.
        backbone_attr (str): where the backbone sits in the model. Defaults to 'backbone'.
        no_decay_names (Sequence[str]): extra name parts without weight decay. Default ().
        num_layers (int, optional): override the backbone depth L (otherwise read from it).

    Parameters that do not require gradients are left out of the optimizer. Parameters are
    grouped by (layer id, weight decay or not); the groups are logged once.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        if 'layer_decay_rate' not in paramwise_cfg:
            raise KeyError('LayerDecayOptimWrapperConstructor needs '
                           'paramwise_cfg=dict(layer_decay_rate=...)')
        self.layer_decay_rate = float(paramwise_cfg.pop('layer_decay_rate'))
        self.backbone_attr = paramwise_cfg.pop('backbone_attr', 'backbone')
        self.extra_no_decay = tuple(paramwise_cfg.pop('no_decay_names', ()))
        self.num_layers_override = paramwise_cfg.pop('num_layers', None)
        if paramwise_cfg:
            raise KeyError(f'unknown paramwise_cfg keys for layer decay: {sorted(paramwise_cfg)}')
        if not 0 < self.layer_decay_rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {self.layer_decay_rate}')
        super().__init__(optim_wrapper_cfg, None)
        # non-empty, so that the base class calls add_params instead of model.parameters()
        self.paramwise_cfg = dict(layer_decay_rate=self.layer_decay_rate)

    def _layer_lookup(self, model: nn.Module):
        """(function name -> layer id, L) for the model's backbone."""
        backbone = getattr(model, self.backbone_attr, None)
        if backbone is None:
            raise AttributeError(f'{type(model).__name__} has no `{self.backbone_attr}`; set '
                                 'paramwise_cfg.backbone_attr')
        num_blocks = (int(self.num_layers_override) if self.num_layers_override is not None
                      else count_blocks(backbone))
        prefix = self.backbone_attr + '.'
        get_depth = getattr(backbone, 'get_layer_depth', None)

        def layer_id(name: str) -> int:
            if not name.startswith(prefix):
                return num_blocks + 1
            if get_depth is not None:
                lid, total = get_depth(name, prefix)
                if total != num_blocks + 2:
                    raise ValueError(f'{type(backbone).__name__}.get_layer_depth reports '
                                     f'{total - 2} blocks, the constructor uses {num_blocks}')
                return int(lid)
            return layer_id_from_name(name[len(prefix):], num_blocks)

        return layer_id, num_blocks

    def param_groups(self, model: nn.Module) -> List[dict]:
        """The optimizer's parameter groups with their ``lr`` and ``weight_decay``."""
        model = unwrap_model(model)
        layer_id, num_blocks = self._layer_lookup(model)
        base_lr = self.optimizer_cfg['lr']
        base_wd = self.optimizer_cfg.get('weight_decay', 0.0)
        groups: Dict[Tuple[int, bool], dict] = {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            lid = layer_id(name)
            no_decay = is_no_decay(name, param, self.extra_no_decay)
            key = (lid, no_decay)
            if key not in groups:
                scale = self.layer_decay_rate ** (num_blocks + 1 - lid)
                groups[key] = dict(params=[], param_names=[], lr=base_lr * scale,
                                   lr_scale=scale, layer_id=lid,
                                   weight_decay=0.0 if no_decay else base_wd)
            groups[key]['params'].append(param)
            groups[key]['param_names'].append(name)
        ordered = [groups[k] for k in sorted(groups)]
        self._log_groups(ordered, num_blocks)
        return ordered

    def _log_groups(self, groups: List[dict], num_blocks: int) -> None:
        logger = MMLogger.get_current_instance()
        lines = [f'layer decay {self.layer_decay_rate} over {num_blocks} blocks: '
                 f'{len(groups)} parameter groups']
        for g in groups:
            lines.append(f'  layer {g["layer_id"]:>3}  lr_scale {g["lr_scale"]:.4g}  '
                         f'wd {g["weight_decay"]:.3g}  {len(g["params"])} tensors '
                         f'(e.g. {g["param_names"][0]})')
        logger.info('\n'.join(lines))

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        """Fill ``params`` with the layer-decay groups (the base class calls this)."""
        params.extend(self.param_groups(module))
