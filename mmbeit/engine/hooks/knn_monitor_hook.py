"""Weighted-kNN accuracy of the backbone during training: the curve that shows MoCo v3's dips."""
from __future__ import annotations

import json
import os.path as osp
from typing import Dict, List, Optional

from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmbeit.models.utils.pooling import check_pooling
from mmbeit.registry import HOOKS
from mmbeit.utils.distributed import get_rank

from ...evaluation.knn import FEATURE_SOURCES, extract_features, knn_accuracy


@HOOKS.register_module()
class KNNMonitorHook(Hook):
    """Every ``interval`` iterations (or epochs), kNN top-1 of frozen features on a labelled split.

    Features of the bank split (``train_dataloader``) and the query split (``val_dataloader``)
    are extracted with :func:`extract_features` (every rank takes its share; banks are
    gathered), classified with weighted kNN, and the top-1 is

    - logged as ``knn/top1`` (a log line, the visualizer's scalars and the message hub),
    - appended to the curve ``{work_dir}/{curve_file}`` (json list of ``{iter, epoch, top1}``,
      counted as iterations / epochs done), also saved in checkpoints so a resumed run keeps
      its curve.

    Args:
        train_dataloader (dict): dataloader config of the labelled bank split (an eval
            pipeline, ``DefaultSampler(shuffle=False)``).
        val_dataloader (dict): dataloader config of the query split.
        interval (int): evaluate every ``interval`` iterations / epochs. Defaults to 1000.
        by_epoch (bool): count epochs instead of iterations. Defaults to False.
        k (int): neighbours. Defaults to 20.
        temperature (float): vote temperature. Defaults to 0.07.
        source (str): 'backbone' or 'neck'. Defaults to 'backbone'.
        pooling (str): 'cls', 'mean_patch' or 'cls_mean_patch' (see
            :mod:`mmbeit.models.utils.pooling`); recorded in the log and the curve. Defaults to
            'cls'.
        num_classes (int, optional): defaults to the bank's ``max(label) + 1``.
        before_train (bool): also evaluate the initial weights (step 0). Defaults to True.
        curve_file (str): file name in the work dir. Defaults to 'knn_curve.json'.
    """

    priority = 'LOW'

    def __init__(self, train_dataloader: dict, val_dataloader: dict, interval: int = 1000,
                 by_epoch: bool = False, k: int = 20, temperature: float = 0.07,
                 source: str = 'backbone', num_classes: Optional[int] = None,
                 before_train: bool = True, curve_file: str = 'knn_curve.json',
                 pooling: str = 'cls') -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if source not in FEATURE_SOURCES:
            raise ValueError(f'source must be one of {FEATURE_SOURCES}, got {source!r}')
        self.train_loader_cfg = train_dataloader
        self.val_loader_cfg = val_dataloader
        self.interval, self.by_epoch = interval, by_epoch
        self.k, self.temperature, self.source = k, temperature, source
        self.pooling = check_pooling(pooling)
        self.num_classes = num_classes
        self.eval_before_train = before_train
        self.curve_file = curve_file
        self.curve: List[Dict[str, float]] = []
        self._loaders = None

    # ------------------------------------------------------------------ evaluation
    def _build_loaders(self, runner: Runner):
        if self._loaders is None:
            self._loaders = tuple(
                Runner.build_dataloader(cfg, seed=runner.seed, diff_rank_seed=False)
                if isinstance(cfg, dict) else cfg
                for cfg in (self.train_loader_cfg, self.val_loader_cfg))
        return self._loaders

    def evaluate(self, runner: Runner, iters_done: int, epochs_done: int) -> float:
        """Extract both splits, run kNN, log and record the point; returns top-1 (%)."""
        bank_loader, query_loader = self._build_loaders(runner)
        bank_f, bank_y = extract_features(runner.model, bank_loader, self.source,
                                          pooling=self.pooling)
        query_f, query_y = extract_features(runner.model, query_loader, self.source,
                                            pooling=self.pooling)
        top1 = knn_accuracy(bank_f, bank_y, query_f, query_y, self.k, self.temperature,
                            self.num_classes)
        point = dict(iter=iters_done, epoch=epochs_done, top1=top1, pooling=self.pooling)
        self.curve.append(point)
        runner.logger.info(f'knn/top1: {top1:.2f} ({self.source}, pooling {self.pooling}, '
                           f'k={self.k}, T={self.temperature}, '
                           f'{len(bank_y)} bank / {len(query_y)} query images, '
                           f'after {iters_done} iterations / {epochs_done} epochs)')
        runner.message_hub.update_scalar('train/knn/top1', top1)  # LoggerHook plots it
        self._write_curve(runner)
        return top1

    def _write_curve(self, runner: Runner) -> None:
        if get_rank() == 0:
            with open(osp.join(runner.work_dir, self.curve_file), 'w') as f:
                json.dump(self.curve, f, indent=1)

    # ------------------------------------------------------------------ triggers
    def data_mismatch(self, train_dataloader: Optional[dict]) -> Optional[str]:
        """A warning when the training data was pointed elsewhere (e.g. ``--cfg-options
        train_dataloader.dataset.data_root=...``) but this monitor still reads its own labelled
        folder; None when both read the same root or the training data is not a folder."""
        dataset = (train_dataloader or {}).get('dataset') or {}
        mine = ((self.train_loader_cfg or {}).get('dataset') or {}) \
            if isinstance(self.train_loader_cfg, dict) else {}
        train_root, own_root = dataset.get('data_root'), mine.get('data_root')
        if not train_root or not own_root or osp.abspath(train_root) == osp.abspath(own_root):
            return None
        return (f'KNNMonitorHook measures kNN on {own_root} (its own labelled splits), not on '
                f'the training images in {train_root}: point the hook\'s train_dataloader / '
                'val_dataloader at a labelled split of your data (custom_hooks), or remove the '
                'hook; the knn/top1 curve says nothing about your images otherwise')

    def before_train(self, runner: Runner) -> None:
        warning = self.data_mismatch(getattr(runner, 'cfg', {}).get('train_dataloader'))
        if warning:
            runner.logger.warning(warning)
        if self.eval_before_train and runner.iter == 0:
            self.evaluate(runner, 0, 0)

    def after_train_iter(self, runner: Runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self.by_epoch and (self.every_n_train_iters(runner, self.interval)
                                  or self.is_last_train_iter(runner)):
            self.evaluate(runner, runner.iter + 1, runner.epoch)

    def after_train_epoch(self, runner: Runner) -> None:
        if self.by_epoch and (self.every_n_epochs(runner, self.interval)
                              or self.is_last_train_epoch(runner)):
            self.evaluate(runner, runner.iter, runner.epoch + 1)

    # ------------------------------------------------------------------ resume
    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        checkpoint['knn_curve'] = list(self.curve)

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        self.curve = list(checkpoint.get('knn_curve', []))
