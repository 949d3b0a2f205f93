from .cpu_distributed import CPUDistributedDataParallel, init_cpu_process_group

__all__ = ['CPUDistributedDataParallel', 'init_cpu_process_group']
