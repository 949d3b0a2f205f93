from .beit_vit import ARCH_SETTINGS, BEiTViT, resolve_arch
from .mocov3_vit import MOCOV3_ARCH_SETTINGS, MoCoV3ViT
from .pretrained import ArchMismatchError, load_pretrained_backbone

__all__ = ['MoCoV3ViT', 'ARCH_SETTINGS', 'MOCOV3_ARCH_SETTINGS', 'BEiTViT', 'resolve_arch',
           'ArchMismatchError', 'load_pretrained_backbone']
