from .cpu_distributed import (
    CPUDistributedDataParallel,
    close_process_group,
    init_cpu_process_group,
)
from .fsdp_strategy import FSDPStrategy

__all__ = ['CPUDistributedDataParallel', 'FSDPStrategy', 'close_process_group',
           'init_cpu_process_group']
