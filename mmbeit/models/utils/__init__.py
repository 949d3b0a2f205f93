from .attention import Attention
from .distributed import (
    all_reduce_sum,
    broadcast_,
    gather_no_grad,
    gather_rows,
    get_rank,
    get_world_size,
    is_distributed,
)
from .drop_path import DropPath
from .pos_embed import build_2d_sincos_pos_embed
from .relative_position import (
    RelativePositionBias,
    relative_position_index,
    resize_relative_position_bias_table,
)
from .transformer_block import Mlp, TransformerBlock

__all__ = [
    'Attention', 'DropPath', 'Mlp', 'TransformerBlock', 'RelativePositionBias',
    'relative_position_index', 'resize_relative_position_bias_table',
    'build_2d_sincos_pos_embed', 'all_reduce_sum', 'broadcast_',
    'gather_no_grad', 'gather_rows', 'get_rank', 'get_world_size',
    'is_distributed'
]
