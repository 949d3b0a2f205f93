import mmpretrain.engine  # noqa: F401  (parent registry entries)

from . import hooks, optimizers, runner  # noqa: F401
