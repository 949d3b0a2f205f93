from .backbone import BackboneTeacher
from .base import FrozenTeacher
from .clip import CLIPTeacher
from .dino import DINOTeacher

__all__ = ['FrozenTeacher', 'BackboneTeacher', 'CLIPTeacher', 'DINOTeacher']
