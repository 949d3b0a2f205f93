"""Checkpoint layouts of official releases and mmpretrain <-> mmbeit (above ``models``).

The VQ-KD and DALL-E layouts live with their tokenizers (:mod:`mmbeit.models.tokenizers`),
which read those files themselves; file I/O and key tables are in :mod:`mmbeit.utils`.
"""
from .backbone_extract import extract_backbone, unshare_relative_position_bias
from .mmpretrain_beit import convert_mmbeit_to_mmpretrain, convert_mmpretrain_beit
from .mocov3_release import convert_mocov3_release
from .release_arch import arch_meta, choose_num_heads
from .unilm_beit import convert_unilm_beit

__all__ = [
    'extract_backbone', 'unshare_relative_position_bias', 'convert_mmbeit_to_mmpretrain',
    'convert_mmpretrain_beit', 'convert_mocov3_release', 'arch_meta', 'choose_num_heads',
    'convert_unilm_beit'
]
