"""Importing this package registers every mmbeit model component."""
import mmpretrain.models  # noqa: F401  (parent registry entries)

from . import algorithms, backbones, heads, losses, necks, teachers, tokenizers, utils  # noqa: F401
from .backbones import *  # noqa: F401,F403
