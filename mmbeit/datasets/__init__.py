import mmpretrain.datasets  # noqa: F401  (parent registry entries)

from . import transforms  # noqa: F401
from .digits import DIGIT_CLASSES, DigitsDataset, build_digits_folder

__all__ = ['DIGIT_CLASSES', 'DigitsDataset', 'build_digits_folder']
