import mmbeit.utils.compat  # noqa: F401  (first: mmpretrain 1.2 with transformers 5)

# isort: split
import mmpretrain.evaluation  # noqa: F401  (parent registry entries)

from . import metrics  # noqa: F401,E402
from .knn import extract_features, knn_accuracy, knn_classify  # noqa: E402
from .linear_probe import linear_probe, low_shot_linear_probe  # noqa: E402

__all__ = ['extract_features', 'knn_accuracy', 'knn_classify', 'linear_probe',
           'low_shot_linear_probe']
