"""An official VQ-KD checkpoint records its model name; a tokenizer of other heads refuses it."""
import argparse

import pytest
import torch

from mmbeit.models.backbones import ArchMismatchError
from mmbeit.models.tokenizers import VQKDTokenizer
from mmbeit.models.tokenizers.vqkd_layouts import mmbeit_to_unilm


def _tokenizer(enc_heads, dec_heads):
    return VQKDTokenizer(
        encoder=dict(arch=dict(embed_dims=48, num_layers=1, num_heads=enc_heads), img_size=16,
                     patch_size=8),
        num_tokens=16, code_dims=8, target_dims=8,
        decoder=dict(embed_dims=48, num_layers=1, num_heads=dec_heads))


def _release(tmp_path, model_name):
    sd = mmbeit_to_unilm(_tokenizer(12, 4).state_dict())
    path = tmp_path / 'vqkd.pth'
    torch.save(dict(model=sd, args=argparse.Namespace(model=model_name)), path)
    return path


def test_matching_release_loads(tmp_path):
    path = _release(tmp_path, 'vqkd_encoder_base_decoder_1x48x4_clip')
    _tokenizer(12, 4).load_checkpoint(str(path))


@pytest.mark.parametrize('enc_heads, dec_heads, part', [(6, 4, 'encoder'), (12, 6, 'decoder')])
def test_other_head_counts_are_refused(tmp_path, enc_heads, dec_heads, part):
    path = _release(tmp_path, 'vqkd_encoder_base_decoder_1x48x4_clip')
    with pytest.raises(ArchMismatchError, match=f'{part} num_heads'):
        _tokenizer(enc_heads, dec_heads).load_checkpoint(str(path))
