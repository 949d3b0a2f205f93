"""Importing this package registers every mmbeit model component."""
import mmbeit.utils.compat  # noqa: F401  (first: mmpretrain 1.2 with transformers 5)

# isort: split
import mmpretrain.models  # noqa: F401  (parent registry entries)

from . import algorithms, backbones, heads, losses, necks, teachers, tokenizers, utils  # noqa: F401
from .backbones import *  # noqa: F401,F403
