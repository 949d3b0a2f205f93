from .cls_patch_pool import ClsPatchPoolNeck
from .mocov3_mlp import MoCoV3MLP
from .multiscale_adapter import MultiScaleAdapter
from .patch_aggregation import PatchAggregationNeck

__all__ = ['MoCoV3MLP', 'PatchAggregationNeck', 'ClsPatchPoolNeck', 'MultiScaleAdapter']
