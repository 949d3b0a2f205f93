"""DALL-E dVAE checkpoints: find the encoder / decoder tensors in any of the known layouts.

Layouts accepted (detected from the keys, no argument needed):

- ``release``: the state dict of OpenAI's ``dall_e.Encoder`` / ``dall_e.Decoder`` (the released
  ``encoder.pkl`` / ``decoder.pkl`` pickle whole modules; their ``state_dict()`` saved with
  ``torch.save`` is this layout): ``blocks.input.w``, ``blocks.group_1.block_1.id_path.w``,
  ``blocks.group_1.block_1.res_path.conv_1.w`` ... ``blocks.output.conv.w`` (and ``.b``).
- ``prefixed``: the same keys under any prefix, e.g. ``encoder.`` (mmpretrain / mmselfsup
  ``dalle_encoder.pth``), ``target_generator.`` (a whole mmpretrain BEiT / CAE checkpoint),
  ``tokenizer.encoder.`` / ``tokenizer.decoder.`` (an mmbeit ``DVAE`` training checkpoint).
  Either may sit inside ``{'state_dict': ...}`` or ``{'model': ...}``.

Encoder and decoder are told apart by the input convolution: the encoder's is 7x7 over the
image channels, the decoder's 1x1 over the vocabulary.
"""
from __future__ import annotations

import os
from typing import Dict, Tuple

import torch

from mmbeit.utils.checkpoint import get_state_dict, load_checkpoint

INPUT_CONV_KEY = 'blocks.input.w'
DALLE_CONVERT_HINT = (
    "Convert OpenAI's {part}.pkl once to a state dict (dall_e package installed): python -c "
    "\"import dall_e, torch; torch.save(torch.load('{part}.pkl', weights_only=False)"
    ".state_dict(), 'checkpoints/dalle_{part}.pth')\" and point the config at "
    "checkpoints/dalle_{part}.pth (model.target_generator.init_cfg.checkpoint).")
_PARTS = ('encoder', 'decoder')


def _part_of_input_conv(weight: torch.Tensor) -> str:
    return 'decoder' if weight.ndim == 4 and weight.shape[-1] == 1 else 'encoder'


def detect_dalle_prefix(state_dict: Dict[str, torch.Tensor], part: str = 'encoder') -> str:
    """Return the key prefix under which the dVAE ``part`` lives ('' for the release layout).

    Raises:
        KeyError: no ``...blocks.input.w`` of that part, or several candidate prefixes.
    """
    if part not in _PARTS:
        raise ValueError(f'part must be one of {_PARTS}, got {part!r}')
    prefixes = [k[:-len(INPUT_CONV_KEY)] for k, v in state_dict.items()
                if k.endswith(INPUT_CONV_KEY) and _part_of_input_conv(v) == part]
    if not prefixes:
        sample = ', '.join(list(state_dict)[:8])
        raise KeyError(f'no DALL-E {part} found: expected a key "[prefix]{INPUT_CONV_KEY}" with '
                       f'a {"1x1" if part == "decoder" else "7x7"} kernel; first keys: {sample}')
    if len(prefixes) > 1:
        raise KeyError(f'several DALL-E {part}s in the checkpoint (prefixes {prefixes}); '
                       'extract one state dict first')
    return prefixes[0]


def extract_dalle_state_dict(checkpoint: dict, part: str = 'encoder'
                             ) -> Tuple[Dict[str, torch.Tensor], str]:
    """The ``part`` tensors of a loaded checkpoint in the release layout, and the found prefix.

    Args:
        checkpoint (dict): what ``torch.load`` returned (a state dict, or a dict holding one
            under ``state_dict`` / ``model`` / ``module``).
        part (str): 'encoder' or 'decoder'. Defaults to 'encoder'.

    Returns:
        tuple: (state dict keyed ``blocks.*``, prefix; '' means the release layout).
    """
    state_dict = get_state_dict(checkpoint)
    prefix = detect_dalle_prefix(state_dict, part)
    start = prefix + 'blocks.'
    out = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(start)}
    return out, prefix


def load_dalle_checkpoint(path: str, part: str = 'encoder'
                          ) -> Tuple[Dict[str, torch.Tensor], str]:
    """Read a local checkpoint file (weights-only) and extract the dVAE ``part`` from it.

    For the released ``encoder.pkl`` / ``decoder.pkl`` (whole pickled modules, which cannot be
    read weights-only), save ``torch.load(pkl).state_dict()`` once with the ``dall_e`` package
    installed, then pass that file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'DALL-E {part} checkpoint {path} does not exist. '
                                + DALLE_CONVERT_HINT.format(part=part))
    if str(path).endswith('.pkl'):
        try:
            checkpoint = load_checkpoint(path)
        except Exception as err:
            raise ValueError(
                f'{path} looks like a pickled dall_e module, which is not read without '
                'running its code. ' + DALLE_CONVERT_HINT.format(part=part)) from err
    else:
        checkpoint = load_checkpoint(path)
    return extract_dalle_state_dict(checkpoint, part)
