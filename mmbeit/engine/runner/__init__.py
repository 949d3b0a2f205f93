from .cpu_distributed import CPUDistributedDataParallel, init_cpu_process_group
from .safe_checkpoint import (
    UnsafeCheckpointError,
    load_from_local_safely,
    mmengine_safe_globals,
    register_safe_checkpoint_loader,
    safe_torch_load,
)

__all__ = [
    'CPUDistributedDataParallel', 'init_cpu_process_group', 'UnsafeCheckpointError',
    'load_from_local_safely', 'mmengine_safe_globals', 'register_safe_checkpoint_loader',
    'safe_torch_load'
]
