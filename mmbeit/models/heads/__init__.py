from .contrastive_loss import infonce_loss
from .mim_head import BEiTV1Head, BEiTV2Head
from .mim_loss import masked_token_loss
from .mocov3_head import MoCoV3ContrastiveHead

__all__ = ['MoCoV3ContrastiveHead', 'infonce_loss', 'BEiTV1Head', 'BEiTV2Head',
           'masked_token_loss']
