"""Evaluation and report of the demo pipeline (``tools/demo.py``)."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config

from mmbeit.evaluation.backbone_features import backbone_features, build_backbone, load_images
from mmbeit.evaluation.knn import knn_accuracy
from mmbeit.evaluation.linear_probe import linear_probe, low_shot_linear_probe
from mmbeit.visualization import Report, plot_curves, plot_masked_images, read_scalars, series
from mmbeit.visualization.codebook_patches import codebook_patch_grid

DIGITS = 'data/digits'


def _json_curve(path: Path, key: str) -> Tuple[List[int], List[float]]:
    if not path.exists():
        return [], []
    points = json.loads(path.read_text())
    return [int(p['iter']) for p in points], [float(p[key]) for p in points]


def _init_quietly(model: torch.nn.Module) -> torch.nn.Module:
    """``init_weights`` without MMEngine's per-parameter log lines."""
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model.eval()


class DecodedTokens(torch.nn.Module):
    """A VQ-KD tokenizer read through its discrete tokens: images -> ids -> decoder features,
    mean over the patches (B, C): what the codes alone carry of the teacher's features."""

    out_type = 'avg_featmap'  # pools inside, as a backbone with this out_type: 'mean_patch'

    def __init__(self, tokenizer: torch.nn.Module) -> None:
        super().__init__()
        self.tokenizer = tokenizer.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.decode_features(self.tokenizer.tokenize(images)).mean(1)


def _backbones(cfgs: Dict[str, Config], ckpts: Dict[str, Path]) -> List[tuple]:
    """(row name, backbone, checkpoint, pooling): each pretrained model, then the same arch at
    random init.

    MoCo v3 is read at its CLS token (what its loss trains), BEiT v2 at the mean of its patch
    tokens, the VQ-KD tokenizer at the mean of the teacher features decoded from its tokens.
    """
    from mmbeit.registry import MODELS

    moco = dict(cfgs['mocov3'].model.backbone, out_type='cls_token')
    beit = dict(cfgs['beitv2'].model.backbone, out_type='avg_featmap', out_indices=-1)
    tok_cfg = dict(cfgs['vqkd'].model.tokenizer)

    def tokenizer(checkpoint=None) -> torch.nn.Module:
        model = MODELS.build(dict(tok_cfg, checkpoint=checkpoint))
        if checkpoint is None:
            _init_quietly(model)
        return DecodedTokens(model)

    torch.manual_seed(0)
    return [
        ('MoCo v3 (CLS)', build_backbone(moco, str(ckpts['mocov3'])), ckpts['mocov3'], 'cls'),
        ('  random init, same arch', _init_quietly(build_backbone(moco)), '-', 'cls'),
        ('VQ-KD tokens (decoded, mean patch)', tokenizer(str(ckpts['vqkd'])), ckpts['vqkd'],
         'mean_patch'),
        ('  random init, same arch', tokenizer(), '-', 'mean_patch'),
        ('BEiT v2 (mean patch)', build_backbone(beit, str(ckpts['beitv2'])), ckpts['beitv2'],
         'mean_patch'),
        ('  random init, same arch', _init_quietly(build_backbone(beit)), '-', 'mean_patch'),
    ]


def evaluate(cfgs: Dict[str, Config], ckpts: Dict[str, Path]) -> List[dict]:
    """kNN (k=20, T=0.07), linear-probe and 5-shot linear-probe top-1 on the digits val split
    for every backbone."""
    from mmbeit.datasets import DigitsDataset

    x_tr, y_tr = load_images(DigitsDataset(data_root=DIGITS, split='train'))
    x_va, y_va = load_images(DigitsDataset(data_root=DIGITS, split='val'))
    results = []
    for name, backbone, ckpt, pooling in _backbones(cfgs, ckpts):
        f_tr = backbone_features(backbone, x_tr, pooling)
        f_va = backbone_features(backbone, x_va, pooling)
        results.append(dict(
            model=name, pooling=pooling,
            knn_top1=round(knn_accuracy(f_tr, y_tr, f_va, y_va, k=20, temperature=0.07), 2),
            linear_top1=round(linear_probe(f_tr, y_tr, f_va, y_va, num_classes=10), 2),
            linear_5shot_top1=round(low_shot_linear_probe(f_tr, y_tr, f_va, y_va, 10, shots=5),
                                    2),
            checkpoint=str(ckpt)))
    return results


def _figures(work_dir: Path, cfgs: Dict[str, Config], ckpts: Dict[str, Path],
             configs: Dict[str, Path]) -> List[tuple]:
    fig_dir = work_dir / 'figures'
    figs = []
    moco = read_scalars(work_dir / 'mocov3')
    figs.append((plot_curves({'InfoNCE loss': series(moco, 'loss')}, fig_dir / 'mocov3_loss.png',
                             'MoCo v3: training loss', ylabel='contrastive loss'),
                 'MoCo v3 training loss'))
    figs.append((plot_curves({'kNN top-1 (val)': _json_curve(
        work_dir / 'mocov3' / 'knn_curve.json', 'top1')}, fig_dir / 'mocov3_knn.png',
        'MoCo v3: kNN monitor', ylabel='%'), 'MoCo v3 kNN top-1 during training'))
    vq = read_scalars(work_dir / 'vqkd')
    figs.append((plot_curves({'cosine loss': series(vq, 'loss_cos')},
                             fig_dir / 'vqkd_loss.png', 'VQ-KD: 1 - cos(decoder, teacher)',
                             ylabel='1 - cosine'),
                 'VQ-KD cosine loss to the MoCo v3 teacher'))
    figs.append((plot_curves({'codebook usage': _json_curve(
        work_dir / 'vqkd' / 'codebook_usage.json', 'usage')}, fig_dir / 'vqkd_usage.png',
        'VQ-KD: codebook usage per window', ylabel='% codes used'), 'VQ-KD codebook usage'))
    beit = read_scalars(work_dir / 'beitv2')
    figs.append((plot_curves({'loss': series(beit, 'loss'), 'loss_agg': series(beit, 'loss_agg')},
                             fig_dir / 'beitv2_loss.png', 'BEiT v2: MIM losses',
                             ylabel='cross-entropy'),
                 'BEiT v2 losses (final layer and patch aggregation)'))
    figs.append((plot_curves({'mlm_acc': series(beit, 'mlm_acc'),
                              'mlm_acc_agg': series(beit, 'mlm_acc_agg')},
                             fig_dir / 'beitv2_mlm_acc.png', 'BEiT v2: masked-token accuracy',
                             ylabel='accuracy (0-1)'),
                 'BEiT v2 masked-token accuracy'))
    figs.append((_mask_figure(cfgs['beitv2'], fig_dir / 'masks.png'),
                 'digits with BEiT v2 block-wise masks (26 of 64 patches)'))
    out = codebook_patch_grid(str(configs['vqkd']), str(ckpts['vqkd']),
                              str(fig_dir / 'codebook_patches.png'), num_codes=12, per_code=12)
    figs.append((Path(out), 'image patches of the 12 most frequent textured VQ-KD codes '
                            '(uniform ones left out; one row each)'))
    return figs


def codebook_usage_rows(curve: List[dict], max_rows: int = 8) -> List[list]:
    """Table rows of a ``CodebookUsageHook`` curve: at most ``max_rows`` evenly spaced
    windows, the last one always included."""
    if not curve:
        return []
    step = max(1, -(-len(curve) // max_rows))
    picked = curve[::-1][::step][::-1]  # every step-th window counted back from the last
    return [[p['iter'], f"{p['usage']:.1f}", f"{p['used_codes']} / {p['num_codes']}",
             f"{p['perplexity']:.1f}", p['restarts']] for p in picked]


def _mask_figure(cfg: Config, path: Path) -> Path:
    from PIL import Image

    from mmbeit.datasets import DigitsDataset
    from mmbeit.datasets.transforms import BlockwiseMaskGenerator

    mask_cfg = next(t for t in cfg.train_dataloader.dataset.pipeline
                    if t['type'] == 'BlockwiseMaskGenerator')
    args = {k: v for k, v in mask_cfg.items() if k != 'type'}
    gen = BlockwiseMaskGenerator(**args, rng=0)
    ds = DigitsDataset(data_root=DIGITS, split='val')
    images = [np.asarray(Image.open(ds.get_data_info(i)['img_path']).convert('RGB'))
              for i in range(8)]
    masks = [gen(dict())['mask'] for _ in images]
    return plot_masked_images(images, masks, path)


def evaluate_and_report(work_dir: Path, ckpts: Dict[str, Path],
                        configs: Dict[str, Path], results: Optional[List[dict]] = None) -> Path:
    """Evaluate every backbone, draw the figures and write ``report.md`` / ``report.html``."""
    work_dir = Path(work_dir)
    cfgs = {k: Config.fromfile(str(v)) for k, v in configs.items()}
    results = results if results is not None else evaluate(cfgs, ckpts)
    (work_dir / 'results.json').write_text(json.dumps(results, indent=1))
    report = Report('mmbeit demo: self-supervised ViTs on embedded handwritten digits')
    report.text('MoCo v3 -> VQ-KD (MoCo v3 teacher) -> BEiT v2 (VQ-KD targets), trained on the '
                '1438 training scans of scikit-learn digits (32 px, patch 4) on CPU; evaluated on '
                'the 359 validation scans with frozen features.')
    report.heading('Results (val top-1, %)')
    report.table(['model', 'pooling', 'kNN (k=20)', 'linear probe', 'linear, 5 labels / class',
                  'checkpoint'],
                 [[r['model'], r['pooling'], r['knn_top1'], r['linear_top1'],
                   r['linear_5shot_top1'], r['checkpoint']] for r in results])
    report.text('kNN: cosine similarity to the 1438 training scans, k=20, T=0.07. Linear probe: '
                'standardised features, one linear layer; with all 1438 labels these digits '
                'are nearly linearly separable even from random features, so the last column '
                'trains it on 5 labelled scans per class (mean of 5 draws).')
    curve_file = work_dir / 'vqkd' / 'codebook_usage.json'
    curve = json.loads(curve_file.read_text()) if curve_file.exists() else []
    if curve:
        report.heading('Codebook usage (VQ-KD)')
        report.text(f'Per training window of {curve[-1]["window"]} iterations '
                    '(CodebookUsageHook, figure "VQ-KD codebook usage" below): codes used in '
                    'the window, their perplexity, and dead-code restarts so far. At the real '
                    'vocabulary size (K=8192): benchmarks/codebook_usage.py and its table in '
                    'benchmarks/README.md.')
        report.table(['iteration', 'usage (%)', 'codes used', 'perplexity', 'restarts'],
                     codebook_usage_rows(curve))
    report.heading('Figures')
    for path, caption in _figures(work_dir, cfgs, ckpts, configs):
        report.figure(path, caption)
    report.heading('Checkpoints')
    report.table(['stage', 'checkpoint', 'config'],
                 [[k, str(ckpts[k]), str(configs[k])] for k in ckpts])
    return report.write(work_dir)
