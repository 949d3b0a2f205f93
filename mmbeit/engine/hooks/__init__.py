from .atomic_checkpoint_hook import AtomicCheckpointHook
from .codebook_usage_hook import CodebookUsageHook
from .compile_model_hook import CompileModelHook
from .grad_spike_hook import GradientSpikeHook
from .knn_monitor_hook import KNNMonitorHook
from .random_state_hook import RandomStateHook, get_random_states, set_random_states
from .zero_checkpoint_hook import ZeroCheckpointHook

__all__ = ['AtomicCheckpointHook', 'CompileModelHook', 'GradientSpikeHook', 'KNNMonitorHook',
           'CodebookUsageHook', 'RandomStateHook', 'ZeroCheckpointHook', 'get_random_states',
           'set_random_states']
