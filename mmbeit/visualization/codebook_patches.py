"""For chosen VQ-KD codes, a grid of the image patches that the tokenizer maps to them."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional

import numpy as np
import torch


def collect_patches(tokenizer, images: torch.Tensor, pixels: np.ndarray,
                    bank: Dict[int, List[np.ndarray]], per_code: int) -> np.ndarray:
    """Add the (p, p, 3) uint8 patches of ``pixels`` (B, H, W, 3) to ``bank[code]``.

    Returns:
        the token ids (B, h, w).
    """
    ids = tokenizer.tokenize(images).cpu().numpy()  # (B, h, w)
    p = tokenizer.patch_size
    for b, grid in enumerate(ids):
        for (i, j), code in np.ndenumerate(grid):
            if len(bank[int(code)]) < per_code:
                bank[int(code)].append(pixels[b, i * p:(i + 1) * p, j * p:(j + 1) * p])
    return ids


def textured_codes(bank: Dict[int, List[np.ndarray]], counts: np.ndarray, num_codes: int,
                   flat_std: float = 4.0) -> List[int]:
    """The ``num_codes`` most frequent codes whose patches are not flat (mean per-patch pixel
    std above ``flat_std`` uint8 levels), most frequent first; flat codes fill up the rest.

    On images with large uniform areas (the digits' black background, sky) the most frequent
    codes are uniform patches, and a grid of them shows nothing of what the codebook learned.
    """
    order = [int(c) for c in np.argsort(-counts, kind='stable') if counts[c] > 0]

    def is_flat(code: int) -> bool:
        patches = bank.get(code) or []
        return not patches or float(np.mean([p.std() for p in patches])) <= flat_std

    textured = [c for c in order if not is_flat(c)]
    return (textured + [c for c in order if is_flat(c)])[:num_codes]


def draw_grid(bank: Dict[int, List[np.ndarray]], codes: List[int], per_code: int,
              out: str) -> str:
    from .curves import plt, save_figure

    fig, axes = plt.subplots(len(codes), per_code, figsize=(per_code * 0.8, len(codes) * 0.8),
                             squeeze=False)
    for r, code in enumerate(codes):
        for c in range(per_code):
            ax = axes[r][c]
            ax.axis('off')
            if c < len(bank.get(code, [])):
                ax.imshow(bank[code][c])
        axes[r][0].set_title(f'{code}', fontsize=7, loc='left')
    return str(save_figure(fig, out, dpi=120))


def codebook_patch_grid(config: str, checkpoint: str, out: str,
                        codes: Optional[List[int]] = None, num_codes: int = 16,
                        per_code: int = 12, max_images: int = 2000) -> str:
    """Tokenize the config's validation images and draw ``per_code`` patches per code -> PNG.

    Args:
        config: a VQ-KD training config (its ``model.tokenizer``, data preprocessor and
            ``val_dataloader`` are used).
        checkpoint: a VQ-KD checkpoint in any supported layout.
        out: the PNG path.
        codes: codes to draw (one row each); default: the ``num_codes`` most frequent codes
            with textured patches (:func:`textured_codes`).
    """
    from mmengine.config import Config
    from mmengine.runner import Runner
    from tqdm import tqdm

    import mmbeit.datasets  # noqa: F401
    import mmbeit.models  # noqa: F401
    from mmbeit.registry import DATASETS, MODELS

    cfg = Config.fromfile(config)
    tok_cfg = dict(cfg.model.tokenizer, checkpoint=checkpoint)
    tokenizer = MODELS.build(tok_cfg).eval()
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    loader_cfg = dict(cfg.val_dataloader)
    loader_cfg['dataset'] = DATASETS.build(loader_cfg['dataset'])
    loader = Runner.build_dataloader(loader_cfg)
    bank: Dict[int, List[np.ndarray]] = defaultdict(list)
    counts = np.zeros(tokenizer.num_tokens, dtype=np.int64)
    seen = 0
    with tqdm(total=min(max_images, len(loader.dataset)), unit='img') as bar:
        for batch in loader:
            data = preprocessor(batch, False)
            images = data['inputs']
            pixels = ((images.permute(0, 2, 3, 1).numpy() + 1) * 127.5).clip(0, 255)
            ids = collect_patches(tokenizer, images, pixels.astype(np.uint8), bank, per_code)
            counts += np.bincount(ids.ravel(), minlength=tokenizer.num_tokens)
            seen += images.shape[0]
            bar.update(images.shape[0])
            if seen >= max_images:
                break
    codes = codes or textured_codes(bank, counts, num_codes)
    draw_grid(bank, codes, per_code, out)
    print(f'saved {out} ({len(codes)} codes, {seen} images)')
    return out
