from .attention import Attention
from .autocast_weights import AutocastWeights
from .drop_path import DropPath
from .masked_rows import masked_rows
from .pooling import (
    POOLINGS,
    check_backbone_pooling,
    patch_tokens,
    pool_features,
    pool_tokens,
)
from .pos_embed import build_2d_sincos_pos_embed
from .relative_position import (
    RelativePositionBias,
    relative_position_index,
    resize_relative_position_bias_table,
)
from .transformer_block import Mlp, TransformerBlock

__all__ = [
    'Attention', 'AutocastWeights', 'DropPath', 'Mlp', 'TransformerBlock', 'RelativePositionBias',
    'relative_position_index', 'resize_relative_position_bias_table',
    'build_2d_sincos_pos_embed', 'masked_rows', 'POOLINGS', 'check_backbone_pooling',
    'patch_tokens', 'pool_features', 'pool_tokens'
]
