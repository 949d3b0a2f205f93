"""Hooks, optimizer wrappers / constructors and runner parts, and the one place where mmbeit
changes MMEngine's behaviour: importing this package installs the weights-only checkpoint
loader (:func:`mmbeit.utils.install_safe_checkpoint_loader`) for MMEngine's local loads.

``tools/train.py`` / ``tools/test.py`` import it; mmdet / mmseg configs import it through
``custom_imports=dict(imports=['mmbeit.models', 'mmbeit.engine'])``; mmbeit configs
(``default_scope='mmbeit'``) import it when the runner builds its first hook.
"""
import mmbeit.utils.compat  # noqa: F401  (first: mmpretrain 1.2 with transformers 5)

# isort: split
import mmpretrain.engine  # noqa: F401  (parent registry entries)

from mmbeit.utils.checkpoint import install_safe_checkpoint_loader

from . import hooks, optimizers, runner  # noqa: F401,E402

install_safe_checkpoint_loader()
