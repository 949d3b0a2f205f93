from .beit_vit import ARCH_SETTINGS, BEiTViT, resolve_arch
from .mocov3_vit import MoCoV3ViT

__all__ = ['MoCoV3ViT', 'ARCH_SETTINGS', 'BEiTViT', 'resolve_arch']
