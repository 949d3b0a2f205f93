from .mim_head import BEiTV1Head, BEiTV2Head
from .mocov3_head import MoCoV3ContrastiveHead

__all__ = ['MoCoV3ContrastiveHead', 'BEiTV1Head', 'BEiTV2Head']
