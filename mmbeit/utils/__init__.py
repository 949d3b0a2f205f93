"""Layer 0 of mmbeit: checkpoint files, state-dict keys, distributed helpers, CPU malloc
tuning (no mmbeit imports).

Every other package may import this one; it imports none of them.
"""
from .checkpoint import (
    CheckpointError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
    get_state_dict,
    install_safe_checkpoint_loader,
    load_checkpoint,
    load_state_dict_file,
    save_state_dict,
)
from .key_maps import add_prefix, convert_timm_vit, split_qkv_bias, strip_prefix
from .state_dict import StateDictMismatchError, load_state_dict_report

__all__ = [
    'CheckpointError', 'CheckpointNotFoundError', 'UnsafeCheckpointError', 'get_state_dict',
    'install_safe_checkpoint_loader', 'load_checkpoint', 'load_state_dict_file',
    'save_state_dict', 'add_prefix', 'convert_timm_vit', 'split_qkv_bias', 'strip_prefix',
    'StateDictMismatchError', 'load_state_dict_report'
]
