"""Offline weighted-kNN top-1 of any mmbeit / mmpretrain checkpoint on a labelled split.

    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT \\
        [--bank-split train] [--query-split val] [--k 20] [--temperature 0.07] \\
        [--source backbone] [--pooling cls] [--batch-size 256] [--data-root DIR] \\
        [--cfg-options k=v ...]

The datasets: with ``--data-root``, an ImageNet-layout folder (``DIR/train/<class>/*.JPEG``,
``DIR/val/<class>/*``; the split names are ``--bank-split`` / ``--query-split``), resized and
centre-cropped to the backbone's ``img_size``; else the config's ``KNNMonitorHook`` (if it has
one) or its ``val_dataloader`` with ``split`` set to the bank / query split. The model is the
config's model with the checkpoint loaded (a full pretraining checkpoint or a bare backbone
one); the files its tokenizer / teacher / backbone ``init_cfg`` name are not read (kNN uses the
backbone or neck only, and the checkpoint holds them; they load strictly, through mmbeit's one
weights-only reader). Tokens become one vector by ``--pooling`` (``cls``, ``mean_patch``,
``cls_mean_patch``; default: what the backbone's ``out_type`` does, else ``cls``), which the
result names. Missing files fail before anything is
built, and so does a ``--data-root`` that is not a folder, lacks a split folder, has no class
subfolders or no image in them, or whose two splits name different classes.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch import nn

from mmbeit.evaluation import extract_features, knn_accuracy
from mmbeit.models.backbones.pretrained import load_backbone_part
from mmbeit.models.utils.pooling import BACKBONE_POOLING, POOLINGS
from mmbeit.registry import MODELS
from mmbeit.utils import load_state_dict_file, load_state_dict_report, strip_prefix


def add_feature_args(parser: argparse.ArgumentParser) -> None:
    """The arguments that choose the model, the checkpoint and the two labelled splits
    (shared with ``linear_probe_eval.py``)."""
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='omit to evaluate the randomly initialised model')
    parser.add_argument('--bank-split', default='train')
    parser.add_argument('--query-split', default='val')
    parser.add_argument('--source', default='backbone', choices=('backbone', 'neck'))
    parser.add_argument('--pooling', choices=POOLINGS, default=None,
                        help="tokens -> one vector (default: what the backbone's out_type "
                        "does, e.g. 'cls' for cls_token, else 'cls')")
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--num-workers', type=int, default=None,
                        help='dataloader workers (default: the config\'s, 2 with --data-root)')
    parser.add_argument('--data-root', help='ImageNet-layout folder with the bank / query '
                        'splits as class subfolders (instead of the config\'s datasets)')
    parser.add_argument('--out', help='write the result as json here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_args(parser)
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--temperature', type=float, default=0.07)
    return parser.parse_args(argv)


# mmpretrain's CustomDataset: these suffixes (any case), one class per subfolder (all of them)
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif')


def _has_image(folder: str) -> bool:
    for _, _, files in os.walk(folder, followlinks=True):
        if any(f.lower().endswith(IMG_EXTENSIONS) for f in files):
            return True
    return False


def class_folders(data_root: str, split: str) -> List[str]:
    """The class subfolders of ``data_root/split``; fails naming the folder and the layout
    when it is missing, has no class subfolder or no image in any of them."""
    folder = osp.join(data_root, split)
    layout = (f'expected {osp.join(data_root, split, "<class>", "<image>")} (ImageNet layout: '
              'DIR/train/<class>/*.JPEG, DIR/val/<class>/*.JPEG, images ending in '
              f'{", ".join(IMG_EXTENSIONS)}; other split names: --bank-split / --query-split)')
    if not osp.isdir(folder):
        raise SystemExit(f'--data-root {data_root} has no {split}/ folder ({folder}); {layout}')
    classes = sorted(d for d in os.listdir(folder) if osp.isdir(osp.join(folder, d)))
    if not classes:
        raise SystemExit(f'--data-root: {folder} has no class subfolders; {layout}')
    if not any(_has_image(osp.join(folder, c)) for c in classes):
        raise SystemExit(f'--data-root: no image in the {len(classes)} class subfolders of '
                         f'{folder}; {layout}')
    return classes


def folder_loader_cfg(data_root: str, split: str, img_size: int) -> dict:
    """A class-folder split (ImageNet layout) with the usual evaluation resize + centre crop."""
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='ResizeEdge', scale=int(round(img_size * 256 / 224)), edge='short',
                     backend='pillow', interpolation='bicubic'),
                dict(type='CenterCrop', crop_size=img_size),
                dict(type='PackInputs')]
    return dict(num_workers=2, dataset=dict(type='mmpretrain.CustomDataset', data_root=data_root,
                                            data_prefix=split, pipeline=pipeline))


def split_loader_cfgs(cfg: Config, bank_split: str, query_split: str, batch_size: int,
                      data_root: Optional[str] = None, num_workers: Optional[int] = None
                      ) -> List[dict]:
    """The bank and query dataloader configs (checked before anything is built)."""
    if data_root is not None:
        evaluated = cfg.model.get('backbone') or cfg.model.get('tokenizer', {}).get('encoder')
        img_size = (evaluated or {}).get('img_size', 224)
        img_size = img_size[0] if isinstance(img_size, (tuple, list)) else img_size
        bank_classes, query_classes = (class_folders(data_root, s)
                                       for s in (bank_split, query_split))
        if bank_classes != query_classes:  # the labels are indices into each split's classes
            only = sorted(set(bank_classes) ^ set(query_classes))
            raise SystemExit(f'--data-root {data_root}: {bank_split}/ and {query_split}/ need '
                             f'the same class subfolders ({len(bank_classes)} vs '
                             f'{len(query_classes)}; in one only: {", ".join(only[:5])}'
                             f'{" ..." if len(only) > 5 else ""})')
        bank, query = (folder_loader_cfg(data_root, s, img_size) for s in (bank_split,
                                                                           query_split))
        pairs = ((bank, None), (query, None))
    else:
        hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') == 'KNNMonitorHook']
        if hooks:
            bank, query = hooks[0]['train_dataloader'], hooks[0]['val_dataloader']
        elif cfg.get('val_dataloader'):
            bank, query = cfg.val_dataloader, cfg.val_dataloader
        else:
            raise SystemExit(f'{cfg.filename} has neither a KNNMonitorHook nor a '
                             'val_dataloader: pass --data-root DIR (an ImageNet-layout folder '
                             'with train/ and val/ class subfolders)')
        pairs = ((bank, bank_split), (query, query_split))
    loaders = []
    for loader, split in pairs:
        loader = copy.deepcopy(dict(loader))
        if split is not None:
            loader['dataset'] = dict(loader['dataset'], split=split)
        if num_workers is not None:
            loader['num_workers'] = num_workers
        loader.update(batch_size=batch_size, persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False))
        loaders.append(loader)
    return loaders


def without_pretrained_files(model_cfg):
    """The model config with every file it would read at build / init removed.

    Tokenizer / teacher ``checkpoint=`` and ``init_cfg=dict(type='Pretrained')`` entries become
    None: kNN reads the backbone (and neck) only, from the checkpoint given on the command line.
    """
    if isinstance(model_cfg, (list, tuple)):
        return type(model_cfg)(without_pretrained_files(v) for v in model_cfg)
    if not isinstance(model_cfg, dict):
        return model_cfg
    out = {}
    for key, value in model_cfg.items():
        if key == 'init_cfg' and isinstance(value, dict) and value.get('type') == 'Pretrained':
            value = None
        elif key in ('checkpoint', 'decoder_checkpoint') and isinstance(value, str):
            value = None
        out[key] = without_pretrained_files(value)
    return out


def single_view_preprocessor(model):
    """A classification preprocessor with the model's mean / std when the model's own one
    returns several views (mmpretrain's ``SelfSupDataPreprocessor`` family); else None."""
    from mmpretrain.models import ClsDataPreprocessor, SelfSupDataPreprocessor

    own = getattr(model, 'data_preprocessor', None)
    if not isinstance(own, SelfSupDataPreprocessor):
        return None
    return ClsDataPreprocessor(mean=own.mean.flatten().tolist(), std=own.std.flatten().tolist(),
                               to_rgb=bool(own._channel_conversion))


class TokenizerEncoder(nn.Module):
    """A tokenizer-training model (VQ-KD) seen as a backbone: its tokenizer's encoder."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone = model.tokenizer.encoder
        self.data_preprocessor = model.data_preprocessor


def evaluated_model(model: nn.Module) -> Tuple[nn.Module, str]:
    """The model kNN reads features from and the checkpoint prefix of its backbone: the model
    itself (``backbone.``) or, for VQ-KD, its tokenizer's encoder (``tokenizer.encoder.``)."""
    if hasattr(model, 'backbone'):
        return model, 'backbone.'
    if isinstance(getattr(getattr(model, 'tokenizer', None), 'encoder', None), nn.Module):
        return TokenizerEncoder(model), 'tokenizer.encoder.'
    raise SystemExit(f'{type(model).__name__} has neither a backbone nor a tokenizer encoder '
                     'for kNN to evaluate')


def load_backbone_and_neck(model, checkpoint: str, source: str,
                           prefix: str = 'backbone.') -> None:
    """Load the backbone (and, for ``source='neck'``, the neck) of ``checkpoint`` strictly:
    a model checkpoint (``backbone.*`` or ``prefix``, ``neck.*``, optionally under
    ``module.``) or a bare backbone one."""
    state = load_state_dict_file(checkpoint)
    if state and all(k.startswith('module.') for k in state):
        state = strip_prefix(state, 'module.')
    if not any(k.startswith(prefix) for k in state):  # a bare backbone checkpoint
        if source == 'neck':
            raise SystemExit(f'{checkpoint} holds a bare backbone: --source neck needs a model '
                             'checkpoint with neck.* keys')
        load_backbone_part(model.backbone, state, '', checkpoint)
        return
    load_backbone_part(model.backbone, state, prefix, checkpoint)
    if source == 'neck':
        load_state_dict_report(model.neck, strip_prefix(state, 'neck.'),
                               source=f'{checkpoint} [neck.]')


def split_features(args: argparse.Namespace):
    """Frozen features of the bank and query splits: ``(bank_f, bank_y, query_f, query_y,
    pooling)``, (N, C) / (N,) tensors (see the module docstring for where each part comes
    from)."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint} does not exist')
    if args.data_root is not None and not osp.isdir(args.data_root):
        raise SystemExit(f'--data-root {args.data_root} is not a folder; expected '
                         f'{osp.join(args.data_root, args.bank_split, "<class>", "<image>")} '
                         f'and {osp.join(args.data_root, args.query_split, "<class>", "<image>")}'
                         ' (ImageNet layout)')
    loader_cfgs = split_loader_cfgs(cfg, args.bank_split, args.query_split, args.batch_size,
                                    args.data_root, args.num_workers)
    init_default_scope(cfg.get('default_scope', 'mmbeit'))
    model = MODELS.build(without_pretrained_files(cfg.model.to_dict()))
    model.init_weights()
    model, prefix = evaluated_model(model)
    if args.checkpoint:
        load_backbone_and_neck(model, args.checkpoint, args.source, prefix)
    model.to(args.device)
    pooling = args.pooling or BACKBONE_POOLING.get(getattr(model.backbone, 'out_type', None),
                                                   'cls')
    bank_loader, query_loader = (Runner.build_dataloader(c) for c in loader_cfgs)
    preprocessor = single_view_preprocessor(model)
    bank_f, bank_y = extract_features(model, bank_loader, args.source, preprocessor,
                                      progress=True, pooling=pooling)
    query_f, query_y = extract_features(model, query_loader, args.source, preprocessor,
                                        progress=True, pooling=pooling)
    return bank_f, bank_y, query_f, query_y, pooling


def write_result(result: dict, out: Optional[str]) -> None:
    if out:
        with open(out, 'w') as f:
            json.dump(result, f, indent=1)


def main(argv=None) -> dict:
    args = parse_args(argv)
    bank_f, bank_y, query_f, query_y, pooling = split_features(args)
    top1 = knn_accuracy(bank_f, bank_y, query_f, query_y, args.k, args.temperature)
    result = dict(config=args.config, checkpoint=args.checkpoint, k=args.k,
                  temperature=args.temperature, source=args.source, pooling=pooling, top1=top1,
                  bank=len(bank_y), query=len(query_y))
    print(f'\nkNN top-1 = {top1:.2f} % ({args.source}, pooling {pooling}, k={args.k}, '
          f'T={args.temperature}, '
          f'{len(bank_y)} bank / {len(query_y)} query)')
    write_result(result, args.out)
    return result


if __name__ == '__main__':
    main()
