"""Checkpoint layout converters: official releases and mmpretrain <-> mmbeit."""
from mmbeit.utils import StateDictMismatchError, load_state_dict_report

from .backbone_extract import extract_backbone, unshare_relative_position_bias
from .checkpoint_io import get_state_dict, load_checkpoint_file, save_state_dict
from .dalle import detect_dalle_prefix, extract_dalle_state_dict, load_dalle_checkpoint
from .mocov3_release import convert_mocov3_release, convert_timm_vit, split_qkv_bias
from .unilm_beit import backbone_only, convert_unilm_beit

__all__ = [
    'StateDictMismatchError', 'load_state_dict_report', 'extract_backbone',
    'unshare_relative_position_bias', 'get_state_dict', 'load_checkpoint_file',
    'save_state_dict', 'convert_mocov3_release', 'convert_timm_vit', 'split_qkv_bias',
    'backbone_only', 'convert_unilm_beit', 'detect_dalle_prefix', 'extract_dalle_state_dict',
    'load_dalle_checkpoint'
]
