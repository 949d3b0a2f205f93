from .blockwise_mask import BlockwiseMaskGenerator
from .pack_uint8 import PackUint8Inputs
from .resized_crop_view import ResizedCropView
from .two_pic_crop import JitterFlipTwoPicResizedCrop

__all__ = ['BlockwiseMaskGenerator', 'JitterFlipTwoPicResizedCrop', 'PackUint8Inputs',
           'ResizedCropView']
