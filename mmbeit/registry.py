"""mmbeit registries: children of mmpretrain's, scope ``mmbeit``.

A config with ``default_scope = 'mmbeit'`` builds mmbeit types and, through the parent chain,
every mmpretrain / mmengine type by its plain name. mmdet / mmseg configs reach mmbeit parts as
``type='mmbeit.XXX'`` after ``custom_imports=dict(imports=['mmbeit.models', 'mmbeit.engine'])``.

Each registry that holds mmbeit types names the one package that registers them
(``locations``; that package also imports mmpretrain's of the same kind); MMEngine imports it
on the first lookup, so ``import mmbeit.registry`` loads no model, hook or dataset code. The
other registries hold no mmbeit type and exist so that names resolve through mmpretrain under
the ``mmbeit`` scope; their location is mmpretrain's own (MMEngine's lookup in a parent does not
import the parent's locations).
"""
from typing import Optional

from mmengine import registry as mmengine_registry
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry


def _child(kind: str, location: Optional[str] = None) -> Registry:
    """The ``mmbeit`` child of mmpretrain's registry ``kind``, also linked under the root.

    MMEngine resolves ``'scope.Type'`` only among the root's direct children, and ours are
    grandchildren (root -> mmpretrain -> mmbeit); the extra link makes ``type='mmbeit.BEiTViT'``
    in an mmdet / mmseg config resolve. Plain names still go through mmpretrain.
    """
    parent = getattr(mmpretrain_registry, kind)
    registry = Registry(parent.name, parent=parent, scope='mmbeit',
                        locations=[location] if location else list(parent._locations))
    root = registry._get_root_registry()
    if registry.scope not in root._children:
        root._add_child(registry)
    return registry


RUNNERS = _child('RUNNERS')
LOOPS = _child('LOOPS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
OPTIMIZERS = _child('OPTIMIZERS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
HOOKS = _child('HOOKS', 'mmbeit.engine')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS', 'mmbeit.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS', 'mmbeit.engine')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS', 'mmbeit.engine')
# FlexibleRunner strategies: mmpretrain has no registry of its own, so a direct child of the root
STRATEGIES = Registry('strategy', parent=mmengine_registry.STRATEGIES, scope='mmbeit',
                      locations=['mmbeit.engine'])
DATASETS = _child('DATASETS', 'mmbeit.datasets')
DATA_SAMPLERS = _child('DATA_SAMPLERS')
TRANSFORMS = _child('TRANSFORMS', 'mmbeit.datasets')
MODELS = _child('MODELS', 'mmbeit.models')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
METRICS = _child('METRICS', 'mmbeit.evaluation')
EVALUATORS = _child('EVALUATORS')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')
