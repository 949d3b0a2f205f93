"""Images with their block-wise MIM masks."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence, Union

import numpy as np

from .curves import plt, save_figure


def plot_masked_images(images: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                       path: Union[str, Path], title: str = 'block-wise masks') -> Path:
    """Top row: images (H, W, 3) uint8; bottom row: the same with masked patches greyed out.

    Args:
        images: RGB images (H, W, 3).
        masks: bool masks (h, w) on the patch grid; H and W must be multiples of h and w.
    """
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), dpi=110, squeeze=False)
    for i, (img, mask) in enumerate(zip(images, masks)):
        mask = np.asarray(mask, dtype=bool)
        ph, pw = img.shape[0] // mask.shape[0], img.shape[1] // mask.shape[1]
        cover = np.kron(mask, np.ones((ph, pw), dtype=bool))
        shown = img.copy()
        shown[cover] = (0.35 * shown[cover] + 0.65 * np.array([90, 90, 200])).astype(np.uint8)
        axes[0, i].imshow(img)
        axes[1, i].imshow(shown)
        axes[1, i].set_xlabel(f'{int(mask.sum())}/{mask.size}', fontsize=7)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
