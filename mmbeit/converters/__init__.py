"""Checkpoint layout converters: official releases and mmpretrain <-> mmbeit."""
from mmbeit.utils import StateDictMismatchError, load_state_dict_report

from .backbone_extract import extract_backbone, unshare_relative_position_bias
from .checkpoint_io import get_state_dict, load_checkpoint_file, save_state_dict
from .dalle import detect_dalle_prefix, extract_dalle_state_dict, load_dalle_checkpoint
from .mmpretrain_beit import convert_mmbeit_to_mmpretrain, convert_mmpretrain_beit
from .mocov3_release import convert_mocov3_release, convert_timm_vit, split_qkv_bias
from .unilm_beit import backbone_only, convert_unilm_beit
from .vqkd import convert_vqkd_state_dict, detect_vqkd_layout, load_vqkd_checkpoint

__all__ = [
    'convert_vqkd_state_dict', 'detect_vqkd_layout', 'load_vqkd_checkpoint',
    'StateDictMismatchError', 'load_state_dict_report', 'extract_backbone',
    'unshare_relative_position_bias', 'get_state_dict', 'load_checkpoint_file',
    'save_state_dict', 'convert_mocov3_release', 'convert_timm_vit', 'split_qkv_bias',
    'backbone_only', 'convert_unilm_beit', 'detect_dalle_prefix', 'extract_dalle_state_dict',
    'load_dalle_checkpoint', 'convert_mmpretrain_beit', 'convert_mmbeit_to_mmpretrain'
]
