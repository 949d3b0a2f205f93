"""Every training loss of mmbeit, one family per file (pure functions of tensors)."""
from .cosine import cosine_distance
from .infonce import check_query_key, infonce_loss, infonce_with_gathered_keys
from .logit_laplace import (
    LOGIT_LAPLACE_EPS,
    kl_to_uniform,
    logit_laplace_nll,
    map_pixels,
    unmap_pixels,
)
from .masked_token import masked_token_loss

__all__ = ['cosine_distance', 'check_query_key', 'infonce_loss', 'infonce_with_gathered_keys',
           'LOGIT_LAPLACE_EPS', 'kl_to_uniform', 'logit_laplace_nll', 'map_pixels',
           'unmap_pixels', 'masked_token_loss']
