"""Linear probe on frozen features: standardised features -> one linear layer, full batch."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor,
                 test_feats: torch.Tensor, test_labels: torch.Tensor, num_classes: int,
                 epochs: int = 300, lr: float = 0.1, weight_decay: float = 1e-4,
                 seed: int = 0) -> float:
    """Top-1 (%) of a linear classifier trained on frozen features.

    Features are standardised with the training set's per-channel mean / std (a BatchNorm
    without affine, as in BEiT v2's and MoCo v3's linear probes), then a linear layer is trained
    full-batch with AdamW and cross-entropy.

    Args:
        train_feats (Tensor): (N, C) features of the training split.
        train_labels (Tensor): (N,) int labels.
        test_feats (Tensor): (M, C) features of the evaluation split.
        test_labels (Tensor): (M,) int labels.
        num_classes (int): number of classes.
        epochs (int): full-batch steps. Defaults to 300.
        lr (float): AdamW learning rate. Defaults to 0.1.
        weight_decay (float): Defaults to 1e-4.
        seed (int): initialisation seed. Defaults to 0.

    Returns:
        float: top-1 accuracy on the evaluation split, in percent.
    """
    if train_feats.ndim != 2 or test_feats.ndim != 2:
        raise ValueError(f'features must be (N, C); got {tuple(train_feats.shape)} and '
                         f'{tuple(test_feats.shape)}')
    if train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError(f'train features have {train_feats.shape[1]} channels, test features '
                         f'{test_feats.shape[1]}')
    train_feats, test_feats = train_feats.float(), test_feats.float()
    mean, std = train_feats.mean(0), train_feats.std(0).clamp_min(1e-6)
    x_train, x_test = (train_feats - mean) / std, (test_feats - mean) / std
    gen = torch.Generator().manual_seed(seed)
    weight = (torch.randn(num_classes, x_train.shape[1], generator=gen) * 0.01).requires_grad_()
    bias = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.AdamW([weight, bias], lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    y_train = train_labels.long()
    with torch.enable_grad():
        for _ in range(epochs):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(F.linear(x_train, weight, bias), y_train).backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        pred = F.linear(x_test, weight, bias).argmax(1)
    return float((pred == test_labels.long()).float().mean() * 100)


def low_shot_linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor,
                          test_feats: torch.Tensor, test_labels: torch.Tensor,
                          num_classes: int, shots: int = 5, draws: int = 5, seed: int = 0,
                          **probe_kwargs) -> float:
    """Mean top-1 (%) of :func:`linear_probe` trained on ``shots`` labelled samples per class.

    Each of ``draws`` rounds picks ``shots`` training samples of every class at random (seeded)
    and trains a probe on them alone; the evaluation split stays whole. On small, easy data the
    full-label probe separates even random features, the low-label one shows what pretraining
    adds (as the 1 % / 10 % label evaluations of SimCLR / BYOL).

    Args:
        train_feats (Tensor): (N, C); train_labels (Tensor): (N,) int labels.
        test_feats (Tensor): (M, C); test_labels (Tensor): (M,) int labels.
        num_classes (int): number of classes; each needs at least ``shots`` training samples.
        shots (int): labelled samples per class. Defaults to 5.
        draws (int): random draws averaged. Defaults to 5.
        seed (int): seed of the draws. Defaults to 0.
        **probe_kwargs: passed to :func:`linear_probe`.
    """
    labels = train_labels.long()
    counts = torch.bincount(labels, minlength=num_classes)
    if int(counts.min()) < shots:
        raise ValueError(f'{shots}-shot probe: class {int(counts.argmin())} has only '
                         f'{int(counts.min())} training samples')
    gen = torch.Generator().manual_seed(seed)
    per_class = [torch.nonzero(labels == c).flatten() for c in range(num_classes)]
    scores = []
    for draw in range(draws):
        idx = torch.cat([rows[torch.randperm(len(rows), generator=gen)[:shots]]
                         for rows in per_class])
        scores.append(linear_probe(train_feats[idx], labels[idx], test_feats, test_labels,
                                   num_classes, seed=seed + draw, **probe_kwargs))
    return sum(scores) / len(scores)
