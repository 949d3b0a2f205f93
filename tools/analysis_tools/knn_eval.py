"""Offline weighted-kNN top-1 of any mmbeit / mmpretrain checkpoint on a labelled split.

    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT \\
        [--bank-split train] [--query-split val] [--k 20] [--temperature 0.07] \\
        [--source backbone] [--batch-size 256] [--data-root DIR] [--cfg-options k=v ...]

The datasets: with ``--data-root``, an ImageNet-layout folder (``DIR/train/<class>/*.JPEG``,
``DIR/val/<class>/*``; the split names are ``--bank-split`` / ``--query-split``), resized and
centre-cropped to the backbone's ``img_size``; else the config's ``KNNMonitorHook`` (if it has
one) or its ``val_dataloader`` with ``split`` set to the bank / query split. The model is the
config's model with the checkpoint loaded (a full pretraining checkpoint or a bare backbone
one); the files its tokenizer / teacher / backbone ``init_cfg`` name are not read (kNN uses the
backbone or neck only, and the checkpoint holds them). Missing files fail before anything is
built.
"""
from __future__ import annotations

import argparse
import copy
import json
import os.path as osp
from typing import List, Optional

from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint

from mmbeit.evaluation import extract_features, knn_accuracy
from mmbeit.registry import MODELS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='omit to evaluate the randomly initialised model')
    parser.add_argument('--bank-split', default='train')
    parser.add_argument('--query-split', default='val')
    parser.add_argument('--k', type=int, default=20)
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument('--source', default='backbone', choices=('backbone', 'neck'))
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--num-workers', type=int, default=None,
                        help='dataloader workers (default: the config\'s, 2 with --data-root)')
    parser.add_argument('--data-root', help='ImageNet-layout folder with the bank / query '
                        'splits as class subfolders (instead of the config\'s datasets)')
    parser.add_argument('--out', help='write the result as json here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def folder_loader_cfg(data_root: str, split: str, img_size: int) -> dict:
    """A class-folder split (ImageNet layout) with the usual evaluation resize + centre crop."""
    folder = osp.join(data_root, split)
    if not osp.isdir(folder):
        raise FileNotFoundError(f'--data-root {data_root} has no {split}/ folder ({folder}); '
                                'expected DIR/{train,val}/<class>/<image> (or set '
                                '--bank-split / --query-split)')
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
        img_size = cfg.model.get('backbone', {}).get('img_size', 224)
        img_size = img_size[0] if isinstance(img_size, (tuple, list)) else img_size
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


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint} does not exist')
    if args.data_root is not None and not osp.isdir(args.data_root):
        raise SystemExit(f'--data-root {args.data_root} is not a folder')
    loader_cfgs = split_loader_cfgs(cfg, args.bank_split, args.query_split, args.batch_size,
                                    args.data_root, args.num_workers)
    init_default_scope(cfg.get('default_scope', 'mmbeit'))
    model = MODELS.build(without_pretrained_files(cfg.model.to_dict()))
    model.init_weights()
    if args.checkpoint:
        ckpt = load_checkpoint(model, args.checkpoint, map_location='cpu', strict=False,
                               revise_keys=[(r'^module\.', '')])
        state = ckpt.get('state_dict', ckpt)
        if not any(k.startswith('backbone.') for k in state):  # a bare backbone checkpoint
            load_checkpoint(model.backbone, args.checkpoint, map_location='cpu', strict=True)
        print(f'loaded {args.checkpoint}')
    model.to(args.device)
    bank_loader, query_loader = (Runner.build_dataloader(c) for c in loader_cfgs)
    preprocessor = single_view_preprocessor(model)
    bank_f, bank_y = extract_features(model, bank_loader, args.source, preprocessor,
                                      progress=True)
    query_f, query_y = extract_features(model, query_loader, args.source, preprocessor,
                                        progress=True)
    top1 = knn_accuracy(bank_f, bank_y, query_f, query_y, args.k, args.temperature)
    result = dict(config=args.config, checkpoint=args.checkpoint, k=args.k,
                  temperature=args.temperature, source=args.source, top1=top1,
                  bank=len(bank_y), query=len(query_y))
    print(f'\nkNN top-1 = {top1:.2f} % (k={args.k}, T={args.temperature}, '
          f'{len(bank_y)} bank / {len(query_y)} query)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
