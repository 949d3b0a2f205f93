from .dalle_dvae import DALLEDecoder, DALLEdVAE, DALLEEncoder
from .quantizer import NormEMAQuantizer
from .random_tokenizer import RandomProjectionTokenizer
from .vqkd import VQKDTokenizer

__all__ = ['RandomProjectionTokenizer', 'DALLEdVAE', 'DALLEEncoder', 'DALLEDecoder',
           'NormEMAQuantizer', 'VQKDTokenizer']
