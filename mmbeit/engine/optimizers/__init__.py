from .autocast_optim_wrapper import AutocastOptimWrapper, mixed_precision_optim_wrapper
from .layer_decay import LayerDecayOptimWrapperConstructor

__all__ = ['AutocastOptimWrapper', 'mixed_precision_optim_wrapper',
           'LayerDecayOptimWrapperConstructor']
