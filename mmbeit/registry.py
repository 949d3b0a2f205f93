"""mmbeit registries: children of mmpretrain's, scope ``mmbeit``.

A config with ``default_scope = 'mmbeit'`` builds mmbeit types and, through the parent chain,
every mmpretrain / mmengine type by its plain name. mmdet / mmseg configs reach mmbeit parts as
``type='mmbeit.XXX'`` after ``custom_imports=dict(imports=['mmbeit.models'])``.
"""
from mmengine.registry import Registry
from mmpretrain.registry import DATA_SAMPLERS as MMPRE_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRE_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRE_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRE_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRE_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRE_LOOPS
from mmpretrain.registry import METRICS as MMPRE_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRE_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRE_MODELS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMPRE_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRE_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRE_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRE_PARAM_SCHEDULERS
from mmpretrain.registry import RUNNERS as MMPRE_RUNNERS
from mmpretrain.registry import TRANSFORMS as MMPRE_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRE_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRE_VISUALIZERS
from mmpretrain.registry import WEIGHT_INITIALIZERS as MMPRE_WEIGHT_INITIALIZERS

RUNNERS = Registry('runner', parent=MMPRE_RUNNERS, scope='mmbeit',
                   locations=['mmbeit.engine'])
LOOPS = Registry('loop', parent=MMPRE_LOOPS, scope='mmbeit', locations=['mmbeit.engine'])
HOOKS = Registry('hook', parent=MMPRE_HOOKS, scope='mmbeit', locations=['mmbeit.engine'])
LOG_PROCESSORS = Registry('log processor', parent=MMPRE_LOG_PROCESSORS, scope='mmbeit',
                          locations=['mmbeit.engine'])
OPTIMIZERS = Registry('optimizer', parent=MMPRE_OPTIMIZERS, scope='mmbeit',
                      locations=['mmbeit.engine'])
OPTIM_WRAPPERS = Registry('optim wrapper', parent=MMPRE_OPTIM_WRAPPERS, scope='mmbeit',
                          locations=['mmbeit.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor',
                                      parent=MMPRE_OPTIM_WRAPPER_CONSTRUCTORS, scope='mmbeit',
                                      locations=['mmbeit.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler', parent=MMPRE_PARAM_SCHEDULERS,
                            scope='mmbeit', locations=['mmbeit.engine'])
DATASETS = Registry('dataset', parent=MMPRE_DATASETS, scope='mmbeit',
                    locations=['mmbeit.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMPRE_DATA_SAMPLERS, scope='mmbeit',
                         locations=['mmbeit.datasets'])
TRANSFORMS = Registry('transform', parent=MMPRE_TRANSFORMS, scope='mmbeit',
                      locations=['mmbeit.datasets'])
MODELS = Registry('model', parent=MMPRE_MODELS, scope='mmbeit', locations=['mmbeit.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMPRE_MODEL_WRAPPERS, scope='mmbeit',
                          locations=['mmbeit.models'])
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMPRE_WEIGHT_INITIALIZERS,
                               scope='mmbeit', locations=['mmbeit.models'])
METRICS = Registry('metric', parent=MMPRE_METRICS, scope='mmbeit',
                   locations=['mmbeit.evaluation'])
EVALUATORS = Registry('evaluator', parent=MMPRE_EVALUATORS, scope='mmbeit',
                      locations=['mmbeit.evaluation'])
VISUALIZERS = Registry('visualizer', parent=MMPRE_VISUALIZERS, scope='mmbeit',
                       locations=['mmbeit.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMPRE_VISBACKENDS, scope='mmbeit',
                       locations=['mmbeit.visualization'])


def _link_to_root(registry: Registry) -> None:
    """Also hang each registry directly under MMEngine's root.

    MMEngine resolves ``'scope.Type'`` only among the root's direct children, and ours are
    grandchildren (root -> mmpretrain -> mmbeit); without this link ``type='mmbeit.BEiTViT'``
    in an mmdet / mmseg config is not found. Lookup of plain names still goes through mmpretrain.
    """
    root = registry._get_root_registry()
    if registry.scope not in root._children:
        root._add_child(registry)


for _registry in (RUNNERS, LOOPS, HOOKS, LOG_PROCESSORS, OPTIMIZERS, OPTIM_WRAPPERS,
                  OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS, DATASETS, DATA_SAMPLERS,
                  TRANSFORMS, MODELS, MODEL_WRAPPERS, WEIGHT_INITIALIZERS, METRICS, EVALUATORS,
                  VISUALIZERS, VISBACKENDS):
    _link_to_root(_registry)
