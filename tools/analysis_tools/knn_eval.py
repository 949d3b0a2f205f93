"""Offline weighted-kNN top-1 of any mmbeit / mmpretrain checkpoint on a labelled split.

    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT \\
        [--bank-split train] [--query-split val] [--k 20] [--temperature 0.07] \\
        [--source backbone] [--batch-size 256] [--cfg-options k=v ...]

The datasets come from the config's ``KNNMonitorHook`` (if it has one) or from its
``val_dataloader`` with ``split`` set to the bank / query split; the model is the config's
model with the checkpoint loaded (a full pretraining checkpoint or a bare backbone one).
"""
from __future__ import annotations

import argparse
import copy
import json

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
    parser.add_argument('--out', help='write the result as json here')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def split_loaders(cfg: Config, bank_split: str, query_split: str, batch_size: int):
    hooks = [h for h in cfg.get('custom_hooks', []) if h.get('type') == 'KNNMonitorHook']
    if hooks:
        bank, query = hooks[0]['train_dataloader'], hooks[0]['val_dataloader']
    elif cfg.get('val_dataloader'):
        bank, query = cfg.val_dataloader, cfg.val_dataloader
    else:
        raise KeyError(f'{cfg.filename} has neither a KNNMonitorHook nor a val_dataloader')
    loaders = []
    for loader, split in ((bank, bank_split), (query, query_split)):
        loader = copy.deepcopy(dict(loader))
        loader['dataset'] = dict(loader['dataset'], split=split)
        loader.update(batch_size=batch_size, persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False))
        loaders.append(Runner.build_dataloader(loader))
    return loaders


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmbeit'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    if args.checkpoint:
        ckpt = load_checkpoint(model, args.checkpoint, map_location='cpu', strict=False,
                               revise_keys=[(r'^module\.', '')])
        state = ckpt.get('state_dict', ckpt)
        if not any(k.startswith('backbone.') for k in state):  # a bare backbone checkpoint
            load_checkpoint(model.backbone, args.checkpoint, map_location='cpu', strict=True)
    model.to(args.device)
    bank_loader, query_loader = split_loaders(cfg, args.bank_split, args.query_split,
                                              args.batch_size)
    bank_f, bank_y = extract_features(model, bank_loader, args.source, progress=True)
    query_f, query_y = extract_features(model, query_loader, args.source, progress=True)
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
