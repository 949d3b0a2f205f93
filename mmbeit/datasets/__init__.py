import mmbeit.utils.compat  # noqa: F401  (first: mmpretrain 1.2 with transformers 5)

# isort: split
import mmpretrain.datasets  # noqa: F401  (parent registry entries)

from . import transforms  # noqa: F401
from .digits import DIGIT_CLASSES, DigitsDataset, build_digits_folder
from .image_file_list import IMAGE_EXTENSIONS, list_image_files
from .unlabeled_folder import UnlabeledImageFolder, UnreadableImageError

__all__ = ['DIGIT_CLASSES', 'DigitsDataset', 'build_digits_folder', 'IMAGE_EXTENSIONS',
           'list_image_files', 'UnlabeledImageFolder', 'UnreadableImageError']
