from .autocast_optim_wrapper import AutocastOptimWrapper, mixed_precision_optim_wrapper
from .finite_optim_wrapper import FiniteOptimWrapper, grads_finite
from .layer_decay import LayerDecayOptimWrapperConstructor

__all__ = ['AutocastOptimWrapper', 'mixed_precision_optim_wrapper', 'FiniteOptimWrapper',
           'grads_finite', 'LayerDecayOptimWrapperConstructor']
