from .cpu_distributed import (
    CPUDistributedDataParallel,
    close_process_group,
    init_cpu_process_group,
)

__all__ = ['CPUDistributedDataParallel', 'close_process_group', 'init_cpu_process_group']
