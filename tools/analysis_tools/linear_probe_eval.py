"""Linear-probe top-1 of any mmbeit / mmpretrain checkpoint on a labelled split.

    python tools/analysis_tools/linear_probe_eval.py CONFIG CHECKPOINT --data-root DIR \\
        [--shots 5] [--epochs 300] [--lr 0.1] [--weight-decay 1e-4] [--pooling cls] ...

The model, checkpoint and splits are chosen as in ``knn_eval.py`` (same arguments: an
ImageNet-layout ``--data-root`` with ``train/`` and ``val/`` class folders, or the config's
datasets). Frozen features of the bank split train a linear classifier (features standardised,
full batch, AdamW, cross-entropy: :func:`mmbeit.evaluation.linear_probe`), scored on the query
split; ``--shots N`` trains on N labelled images per class (mean over ``--draws`` draws). For the
full ImageNet recipe (augmentation, SGD, 90 epochs) use the ``*_linear-*`` configs with
``tools/train.py``; this is the quick probe of a checkpoint on your own labelled folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from mmbeit.evaluation import linear_probe, low_shot_linear_probe  # noqa: E402
from tools.analysis_tools.knn_eval import (  # noqa: E402
    add_feature_args,
    split_features,
    write_result,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_feature_args(parser)
    parser.add_argument('--shots', type=int, default=None,
                        help='labelled images per class to train on (default: the whole split)')
    parser.add_argument('--draws', type=int, default=5, help='random draws with --shots')
    parser.add_argument('--epochs', type=int, default=300, help='full-batch steps')
    parser.add_argument('--lr', type=float, default=0.1)
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    bank_f, bank_y, query_f, query_y, pooling = split_features(args)
    num_classes = int(max(bank_y.max(), query_y.max())) + 1
    probe = dict(epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay)
    if args.shots:
        top1 = low_shot_linear_probe(bank_f, bank_y, query_f, query_y, num_classes,
                                     shots=args.shots, draws=args.draws, seed=args.seed, **probe)
    else:
        top1 = linear_probe(bank_f, bank_y, query_f, query_y, num_classes, seed=args.seed,
                            **probe)
    result = dict(config=args.config, checkpoint=args.checkpoint, source=args.source,
                  pooling=pooling, shots=args.shots, top1=top1, train=len(bank_y),
                  test=len(query_y), num_classes=num_classes, **probe)
    labels = f'{args.shots}-shot' if args.shots else 'all labels'
    print(f'\nlinear-probe top-1 = {top1:.2f} % ({args.source}, pooling {pooling}, {labels}, '
          f'{len(bank_y)} train / {len(query_y)} test, {num_classes} classes)')
    write_result(result, args.out)
    return result


if __name__ == '__main__':
    main()
