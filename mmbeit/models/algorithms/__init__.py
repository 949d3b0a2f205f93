from .beit import BEiT, BEiTV2
from .dvae import DVAE
from .mocov3 import MoCoV3, cosine_momentum
from .vqkd import VQKD

__all__ = ['MoCoV3', 'cosine_momentum', 'BEiT', 'BEiTV2', 'DVAE', 'VQKD']
