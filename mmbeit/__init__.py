"""mmbeit: BEiT v1/v2, VQ-KD, DALL-E dVAE and MoCo v3 pretraining on the OpenMMLab stack."""
from .engine.runner.safe_checkpoint import register_safe_checkpoint_loader
from .version import __version__

# every local checkpoint MMEngine loads goes through weights-only unpickling with an allow-list
register_safe_checkpoint_loader()

__all__ = ['__version__']
