import mmbeit.utils.compat  # noqa: F401  (first: mmpretrain 1.2 with transformers 5)

# isort: split
import mmpretrain.visualization  # noqa: F401  (parent registry entries)

from .curves import plot_curves, read_scalars, series
from .masks import plot_masked_images
from .report import Report

__all__ = ['plot_curves', 'read_scalars', 'series', 'plot_masked_images', 'Report']
