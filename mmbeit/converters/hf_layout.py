"""mmbeit ViTs <-> HF transformers BEiT / ViT checkpoints (the hub's key layout), both ways.

The keys are those of the BEiT and ViT files on the Hugging Face hub (``query`` / ``key`` /
``value``, ``intermediate.dense``, ``layernorm_before``, ``lambda_1``, ...). transformers 4.x
loads them as they are; transformers 5 renames them on load (``q_proj``, ``mlp.fc1``, ...) and
back on save, so one layout serves both, and :func:`hf_to_mmbeit` reads what either writes.

BEiT (``BeitModel``, ``BeitForMaskedImageModeling``, ``BeitForImageClassification``):
mmbeit's fused ``qkv.weight`` is split into ``query`` / ``key`` / ``value`` (no key bias, as in
mmbeit); the final norm is ``beit.layernorm`` (a pretrained backbone: ``last_hidden_state`` is
the final-norm output), the top ``layernorm`` of the MIM model (whose backbone then uses mean
pooling, so that it has no second norm), or, for a fine-tuned classifier, the mean-pooling
``beit.pooler.layernorm`` (mmbeit's ``fc_norm``). A shared relative position table stays shared
(``use_shared_relative_position_bias``).

ViT (``ViTModel``, ``ViTForImageClassification``; MoCo v3): the (3C,) qkv bias has a zero key
third (mmbeit learns q and v biases only; a key bias adds the same logit to every key of a
query, which softmax removes). HF's ViT has no mask token and no averaged-token norm.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mmbeit.utils.key_maps import rename_key

from .vit_export import ViTExport

StateDict = Dict[str, torch.Tensor]
_BLOCK = re.compile(r'^blocks\.(\d+)\.(.+)$')
_LAYER = re.compile(r'^encoder\.layer\.(\d+)\.(.+)$')
# (mmbeit name inside a block, HF name inside encoder.layer.N); weights and biases alike
_BLOCK_NAMES: Tuple[Tuple[str, str], ...] = (
    ('norm1.', 'layernorm_before.'),
    ('norm2.', 'layernorm_after.'),
    ('attn.proj.', 'attention.output.dense.'),
    ('mlp.fc1.', 'intermediate.dense.'),
    ('mlp.fc2.', 'output.dense.'),
    ('gamma_1', 'lambda_1'),
    ('gamma_2', 'lambda_2'),
    ('rel_pos_bias.relative_position_bias_table',
     'attention.attention.relative_position_bias.relative_position_bias_table'),
    ('attn.q_bias', 'attention.attention.query.bias'),
    ('attn.v_bias', 'attention.attention.value.bias'),
)
_EMBED_NAMES: Tuple[Tuple[str, str], ...] = (
    ('cls_token', 'embeddings.cls_token'),
    ('mask_token', 'embeddings.mask_token'),
    ('pos_embed', 'embeddings.position_embeddings'),
    ('patch_embed.proj.weight', 'embeddings.patch_embeddings.projection.weight'),
    ('patch_embed.proj.bias', 'embeddings.patch_embeddings.projection.bias'),
    ('rel_pos_bias.relative_position_bias_table',
     'encoder.relative_position_bias.relative_position_bias_table'),
)
QKV = ('query', 'key', 'value')


@dataclass
class HFExport:
    """An HF checkpoint: tensors, ``config.json``, ``preprocessor_config.json``."""

    state_dict: StateDict
    config: Dict[str, object]
    preprocessor: Dict[str, object]
    dropped: List[str] = field(default_factory=list)

    @property
    def architecture(self) -> str:
        return str(self.config['architectures'][0])


def _rename(name: str, table: Tuple[Tuple[str, str], ...], reverse: bool = False
            ) -> Optional[str]:
    """:func:`~mmbeit.utils.key_maps.rename_key`, None where no rule applies (no rule of
    these tables maps a name to itself)."""
    new = rename_key(name, table, reverse)
    return None if new == name else new


# ---------------------------------------------------------------------- mmbeit -> HF
def _export_backbone(export: ViTExport, hf_family: str) -> Tuple[StateDict, List[str]]:
    """Backbone tensors -> HF keys relative to ``BeitModel`` / ``ViTModel`` (no prefix)."""
    out: StateDict = OrderedDict()
    unknown: List[str] = []
    dropped: List[str] = []
    c = export.embed_dims
    for key, value in export.backbone.items():
        if key in ('norm.weight', 'norm.bias', 'fc_norm.weight', 'fc_norm.bias'):
            continue  # placed by the caller (depends on the model class)
        if hf_family == 'vit' and key == 'mask_token':
            dropped.append('mask_token (MIM pretraining only; HF ViT checkpoints have none)')
            continue
        match = _BLOCK.match(key)
        if match:
            stem, rest = f'encoder.layer.{match.group(1)}.', match.group(2)
            if rest == 'attn.qkv.weight':
                for part, w in zip(QKV, value.split(c, 0)):
                    out[f'{stem}attention.attention.{part}.weight'] = w.clone()
                continue
            if hf_family == 'vit' and rest == 'attn.q_bias':
                out[stem + 'attention.attention.query.bias'] = value
                out[stem + 'attention.attention.key.bias'] = torch.zeros_like(value)
                continue
            new = _rename(rest, _BLOCK_NAMES)
            if new is None or (hf_family == 'vit' and rest.startswith(('gamma_', 'rel_pos'))):
                unknown.append(key)
            else:
                out[stem + new] = value
            continue
        new = _rename(key, _EMBED_NAMES)
        if new is None or (hf_family == 'vit' and key.startswith('rel_pos')):
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise KeyError(f'{export.source}: backbone tensors of no HF {hf_family} layout '
                       f'({len(unknown)}): {", ".join(unknown[:20])}')
    if hf_family == 'beit' and not export.qkv_bias:
        for i in range(export.num_layers):  # HF's BEiT always learns q / v biases
            for part in ('query', 'value'):
                out[f'encoder.layer.{i}.attention.attention.{part}.bias'] = torch.zeros(c)
        dropped.append('(added) zero query / value biases: HF BEiT always has them')
    return out, dropped


def _norm(export: ViTExport, name: str) -> StateDict:
    return OrderedDict((p, export.backbone[f'{name}.{p}']) for p in ('weight', 'bias'))


def _put(out: StateDict, prefix: str, tensors: StateDict) -> None:
    out.update((prefix + k, v) for k, v in tensors.items())


def _preprocessor(export: ViTExport, processor: str) -> Dict[str, object]:
    size = export.img_size
    return dict(image_processor_type=processor, do_resize=True,
                size=dict(height=size, width=size), resample=3, do_center_crop=False,
                do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
                image_mean=list(export.mean), image_std=list(export.std))


def _common_config(export: ViTExport, architecture: str, model_type: str) -> Dict[str, object]:
    config: Dict[str, object] = dict(
        architectures=[architecture], model_type=model_type, hidden_size=export.embed_dims,
        num_hidden_layers=export.num_layers, num_attention_heads=export.num_heads,
        intermediate_size=export.mlp_hidden, hidden_act='gelu', hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, initializer_range=0.02, layer_norm_eps=export.norm_eps,
        image_size=export.img_size, patch_size=export.patch_size,
        num_channels=export.in_channels)
    if export.cls_head is not None:
        k = int(export.cls_head['weight'].shape[0])
        config['id2label'] = {str(i): f'LABEL_{i}' for i in range(k)}
        config['label2id'] = {f'LABEL_{i}': i for i in range(k)}
    return config


def mmbeit_to_hf(export: ViTExport, with_lm_head: bool = True) -> HFExport:
    """Export an mmbeit ViT in HF's layout.

    The class: ``BeitForImageClassification`` / ``ViTForImageClassification`` with a
    classifier, ``BeitForMaskedImageModeling`` with a BEiT v1 / v2 MIM head (when
    ``with_lm_head``), else ``BeitModel`` / ``ViTModel``.

    Raises:
        KeyError: a backbone tensor of no HF layout (named).
        ValueError: a model HF's classes cannot hold (named).
    """
    hf_family = export.family
    export.check_one_norm('HF')
    backbone, dropped = _export_backbone(export, hf_family)
    out: StateDict = OrderedDict()
    lm = export.lm_head if with_lm_head else None
    if export.lm_head is not None and lm is None:
        dropped.append('head.lm_head (--backbone-only)')
    if hf_family == 'vit':
        if export.fc_norm:
            raise ValueError(f'{export.source}: HF ViT classifies the final-norm CLS token; '
                             'this model averages patch tokens (fc_norm)')
        if lm is not None:
            raise ValueError(f'{export.source}: a MIM head on a ViT without relative position '
                             'bias: no HF class holds it (pass --backbone-only)')
        arch = 'ViTForImageClassification' if export.cls_head is not None else 'ViTModel'
        prefix = 'vit.' if export.cls_head is not None else ''
        _put(out, prefix, backbone)
        _put(out, prefix + 'layernorm.', _norm(export, 'norm'))
        config = _common_config(export, arch, 'vit')
        config.update(qkv_bias=export.qkv_bias, encoder_stride=export.patch_size)
        processor = 'ViTImageProcessor'
    else:
        if export.cls_head is not None:
            arch = 'BeitForImageClassification'
        elif lm is not None:
            arch = 'BeitForMaskedImageModeling'
        else:
            arch = 'BeitModel'
        prefix = '' if arch == 'BeitModel' else 'beit.'
        _put(out, prefix, backbone)
        mean_pooling = export.fc_norm or lm is not None
        if export.fc_norm:
            _put(out, prefix + 'pooler.layernorm.', _norm(export, 'fc_norm'))
        elif lm is not None:
            _put(out, 'layernorm.', _norm(export, 'norm'))
        else:
            _put(out, prefix + 'layernorm.', _norm(export, 'norm'))
        gamma = export.backbone.get('blocks.0.gamma_1')
        config = _common_config(export, arch, 'beit')
        config.update(
            use_mask_token=export.mask_token, use_absolute_position_embeddings=export.abs_pos,
            use_relative_position_bias=export.rel_pos == 'layer',
            use_shared_relative_position_bias=export.rel_pos == 'shared',
            layer_scale_init_value=0.0 if gamma is None else 0.1, drop_path_rate=0.0,
            use_mean_pooling=bool(mean_pooling),
            vocab_size=int(lm['weight'].shape[0]) if lm is not None else 8192)
        processor = 'BeitImageProcessor'
    if export.cls_head is not None:
        _put(out, 'classifier.', export.cls_head)
    if lm is not None:
        _put(out, 'lm_head.', lm)
    return HFExport(out, config, _preprocessor(export, processor), dropped)


# ---------------------------------------------------------------------- HF -> mmbeit
def _import_layer(stem: str, rest: str, value: torch.Tensor, layer: Dict[str, torch.Tensor],
                  backbone: StateDict) -> bool:
    """One ``encoder.layer.N.*`` tensor; q / k / v weights are collected in ``layer``."""
    for part in QKV:
        if rest == f'attention.attention.{part}.weight':
            layer[part] = value
            return True
    if rest == 'attention.attention.key.bias':
        layer['key_bias'] = value
        return True
    new = _rename(rest, _BLOCK_NAMES, reverse=True)
    if new is None:
        return False
    backbone[stem + new] = value
    return True


def hf_to_mmbeit(state_dict: StateDict, config: Dict[str, object],
                 drop: Sequence[str] = ()) -> Tuple[StateDict, Dict[str, StateDict], List[str]]:
    """An HF BEiT / ViT checkpoint -> mmbeit.

    Args:
        state_dict: the tensors (``model.safetensors`` / ``pytorch_model.bin``).
        config: ``config.json``.
        drop: key prefixes to leave out on purpose (e.g. ``'pooler.'`` of a ViT with HF's
            tanh pooler, which mmbeit has no place for).

    Returns:
        (backbone keys of :class:`BEiTViT`, heads ``{'cls_head' | 'lm_head': {'weight',
        'bias'}}``, what was dropped and why).

    Raises:
        KeyError: tensors of no known layout (named); nothing is dropped silently.
    """
    model_type = str(config.get('model_type', ''))
    if model_type not in ('beit', 'vit'):
        raise ValueError(f"config.json: model_type {model_type!r}; mmbeit reads 'beit' and "
                         "'vit' checkpoints")
    base = model_type + '.'
    backbone: StateDict = OrderedDict()
    heads: Dict[str, StateDict] = {}
    layers: Dict[str, Dict[str, torch.Tensor]] = {}
    dropped: List[str] = []
    unknown: List[str] = []
    for full_key, value in state_dict.items():
        key = full_key[len(base):] if full_key.startswith(base) else full_key
        if full_key.startswith(tuple(drop)) or key.startswith(tuple(drop)):
            dropped.append(f'{full_key} (--drop)')
            continue
        if key.endswith('relative_position_index'):
            dropped.append(f'{full_key} (index buffer, rebuilt by mmbeit)')
            continue
        top = full_key.split('.', 1)
        if len(top) == 2 and top[0] in ('classifier', 'lm_head'):
            heads.setdefault('cls_head' if top[0] == 'classifier' else 'lm_head',
                             OrderedDict())[top[1]] = value
            continue
        if key.startswith('layernorm.'):  # beit.layernorm, or the MIM model's top one
            backbone['norm.' + key.split('.', 1)[1]] = value
            continue
        if key.startswith('pooler.layernorm.'):
            backbone['fc_norm.' + key.rsplit('.', 1)[1]] = value
            continue
        match = _LAYER.match(key)
        if match:
            stem = f'blocks.{match.group(1)}.'
            layer = layers.setdefault(stem, {})
            if not _import_layer(stem, match.group(2), value, layer, backbone):
                unknown.append(full_key)
            continue
        new = _rename(key, _EMBED_NAMES, reverse=True)
        if new is None:
            unknown.append(full_key)
        else:
            backbone[new] = value
    for stem, layer in layers.items():
        missing = [p for p in QKV if p not in layer]
        if missing:
            unknown.extend(f'{stem} lacks {p}.weight' for p in missing)
            continue
        backbone[stem + 'attn.qkv.weight'] = torch.cat([layer[p] for p in QKV], 0)
        key_bias = layer.get('key_bias')
        if key_bias is not None and torch.count_nonzero(key_bias):
            dropped.append(f'{stem} key bias (softmax removes it)')
    if unknown:
        raise KeyError(f'HF {model_type} tensors of no known layout ({len(unknown)}): '
                       f'{", ".join(unknown[:20])}')
    return backbone, heads, dropped

