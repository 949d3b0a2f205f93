from .blockwise_mask import BlockwiseMaskGenerator
from .load_image import GuardedLoadImageFromFile, ImageTooLargeError
from .pack_uint8 import PackUint8Inputs
from .resized_crop_view import ResizedCropView
from .two_pic_crop import JitterFlipTwoPicResizedCrop

__all__ = ['BlockwiseMaskGenerator', 'GuardedLoadImageFromFile', 'ImageTooLargeError',
           'JitterFlipTwoPicResizedCrop', 'PackUint8Inputs',
           'ResizedCropView']
