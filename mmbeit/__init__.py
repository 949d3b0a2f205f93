"""mmbeit: BEiT v1/v2, VQ-KD, DALL-E dVAE and MoCo v3 pretraining on the OpenMMLab stack.

Importing ``mmbeit`` loads nothing else: the registries in :mod:`mmbeit.registry` import
their packages (``mmbeit.models``, ``mmbeit.engine``, ...) when a config first builds from them.
"""
from .version import __version__

__all__ = ['__version__']
