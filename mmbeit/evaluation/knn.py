"""Weighted kNN classification of frozen features (InstDisc / DINO protocol).

    feats, labels = extract_features(model, dataloader)       # on any rank count
    top1 = knn_accuracy(train_f, train_y, val_f, val_y, k=20, temperature=0.07)
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import is_model_wrapper
from torch import nn

from mmbeit.models.utils.pooling import check_backbone_pooling, pool_features
from mmbeit.utils.distributed import gather_rows, get_rank, is_distributed

FEATURE_SOURCES = ('backbone', 'neck')


def _default_preprocessor() -> nn.Module:
    from mmpretrain.models.utils import ClsDataPreprocessor

    return ClsDataPreprocessor(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                               to_rgb=True)


@torch.no_grad()
def extract_features(model: nn.Module, dataloader, source: str = 'backbone',
                     data_preprocessor: Optional[nn.Module] = None, progress: bool = False,
                     pooling: str = 'cls') -> Tuple[torch.Tensor, torch.Tensor]:
    """(N, C) float features and (N,) labels of a labelled dataloader, in dataset order.

    Args:
        model: an mmbeit / mmpretrain model (``data_preprocessor`` + ``backbone``, optionally
            ``neck``; DDP-wrapped or not) or a bare backbone.
        dataloader: yields ``dict(inputs=[(3, H, W) uint8, ...], data_samples=[DataSample])``
            with ``gt_label`` and ``sample_idx`` (``PackInputs``). Under several ranks each
            rank sees its share (``DefaultSampler``); the banks are gathered, deduplicated by
            ``sample_idx`` and returned in full on every rank.
        source: 'backbone' (default) or 'neck' (the projector of a self-supervised model).
        data_preprocessor: for a bare backbone; defaults to the model's own, else ImageNet
            mean / std with BGR -> RGB.
        progress: show an MMEngine progress bar (rank 0).
        pooling: how tokens become one vector (:mod:`mmbeit.models.utils.pooling`): 'cls'
            (default), 'mean_patch' (also for (B, C, h, w) maps) or 'cls_mean_patch'. A
            backbone whose ``out_type`` pools otherwise is refused.

    Returns:
        tuple[Tensor, Tensor]: features (N, C) float32 on CPU, labels (N,) int64 on CPU.
    """
    if source not in FEATURE_SOURCES:
        raise ValueError(f'source must be one of {FEATURE_SOURCES}, got {source!r}')
    if is_model_wrapper(model):
        model = model.module
    backbone = getattr(model, 'backbone', model)
    neck = getattr(model, 'neck', None)
    if source == 'neck' and neck is None:
        raise ValueError(f'source="neck" but {type(model).__name__} has no neck')
    if source == 'backbone':
        check_backbone_pooling(backbone, pooling)
    preprocessor = data_preprocessor or getattr(model, 'data_preprocessor', None)
    if preprocessor is None or type(preprocessor).__name__ == 'BaseDataPreprocessor':
        preprocessor = _default_preprocessor()
    device = next(backbone.parameters()).device
    preprocessor = preprocessor.to(device)
    was_training = model.training
    model.eval()
    bar = None
    if progress and get_rank() == 0:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(dataloader.dataset))
    feats, labels, indices = [], [], []
    try:
        for data in dataloader:
            data = preprocessor(data, False)
            inputs = data['inputs']
            if isinstance(inputs, (list, tuple)):  # a multi-view pipeline: first view
                inputs = inputs[0]
            out = backbone(inputs)
            if source == 'neck':
                out = neck(out)
            feats.append(pool_features(out, pooling).float())
            samples = data['data_samples']
            labels.append(torch.cat([s.gt_label.reshape(-1)[:1] for s in samples]).long())
            indices.append(torch.tensor([int(s.metainfo.get('sample_idx', -1))
                                         for s in samples]))
            if bar is not None:
                bar.update(len(samples))
    finally:
        model.train(was_training)
    feats_t = torch.cat(feats).cpu()
    labels_t = torch.cat(labels).cpu()
    index_t = torch.cat(indices).cpu()
    if is_distributed():
        feats_t, labels_t, index_t = (gather_rows(t) for t in (feats_t, labels_t, index_t))
        if (index_t < 0).any():
            raise KeyError('data samples need "sample_idx" (a PackInputs meta key) to merge '
                           'the feature banks of several ranks')
        order = torch.argsort(index_t, stable=True)  # dataset order; drop sampler padding
        sorted_index = index_t[order]
        first = torch.ones_like(sorted_index, dtype=torch.bool)
        first[1:] = sorted_index[1:] != sorted_index[:-1]
        keep = order[first]
        feats_t, labels_t = feats_t[keep], labels_t[keep]
    return feats_t, labels_t


@torch.no_grad()
def knn_classify(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, k: int = 20, temperature: float = 0.07,
                 num_classes: Optional[int] = None, chunk_size: int = 1024) -> torch.Tensor:
    """Weighted kNN predictions: cosine similarity, top-k neighbours, votes ``exp(sim / T)``.

    Args:
        train_feats (Tensor): (N, C) bank features (normalised here).
        train_labels (Tensor): (N,) int labels of the bank.
        test_feats (Tensor): (M, C) features to classify.
        k (int): neighbours (clipped to N). Defaults to 20.
        temperature (float): T of the vote weights. Defaults to 0.07.
        num_classes (int, optional): defaults to ``max(train_labels) + 1``.
        chunk_size (int): test rows per similarity block (bounds memory to chunk x N).

    Returns:
        Tensor: (M,) int64 predicted labels.
    """
    if train_feats.ndim != 2 or test_feats.ndim != 2 or \
            train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f'features must be (N, C) and (M, C) with the same C; got '
                         f'{tuple(train_feats.shape)} and {tuple(test_feats.shape)}')
    if train_labels.shape != (train_feats.shape[0],):
        raise ValueError(f'train_labels must be ({train_feats.shape[0]},), got '
                         f'{tuple(train_labels.shape)}')
    if k < 1 or temperature <= 0:
        raise ValueError(f'need k >= 1 and temperature > 0, got k={k}, T={temperature}')
    num_classes = int(train_labels.max()) + 1 if num_classes is None else num_classes
    bank = F.normalize(train_feats.float(), dim=1)
    labels = train_labels.long().to(bank.device)
    k = min(k, bank.shape[0])
    preds = []
    for start in range(0, test_feats.shape[0], chunk_size):
        query = F.normalize(test_feats[start:start + chunk_size].float().to(bank.device), dim=1)
        sim, idx = (query @ bank.t()).topk(k, dim=1)  # (m, k)
        votes = torch.zeros(query.shape[0], num_classes, device=bank.device)
        votes.scatter_add_(1, labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds).cpu()


def knn_accuracy(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, test_labels: torch.Tensor, k: int = 20,
                 temperature: float = 0.07, num_classes: Optional[int] = None) -> float:
    """Top-1 (%) of :func:`knn_classify` on labelled test features."""
    preds = knn_classify(train_feats, train_labels, test_feats, k, temperature, num_classes)
    if preds.shape != test_labels.shape:
        raise ValueError(f'{preds.shape[0]} predictions for {tuple(test_labels.shape)} labels')
    return float((preds == test_labels.long().cpu()).float().mean() * 100)
