"""Trained tokenizers as self-describing safetensors files: same codes, read by every loader."""
import json

import pytest
import torch
from mmengine.config import Config
from safetensors import safe_open

from mmbeit.converters.tokenizer_export import build_tokenizer_from_file
from mmbeit.models.tokenizers import DALLEdVAE, VQKDTokenizer
from mmbeit.utils import StateDictMismatchError
from tools.model_converters import export_tokenizer

from .interop_models import randomize_

VQKD = dict(type='VQKDTokenizer',
            encoder=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2), img_size=16,
                         patch_size=4),
            num_tokens=64, code_dims=8, decoder=dict(embed_dims=16, num_layers=1, num_heads=2),
            target_dims=12, checkpoint='random')
DVAE = dict(type='DALLEdVAE', encoder=dict(n_hid=16, n_blk_per_group=1, num_tokens=32),
            decoder=dict(n_init=16, n_hid=16, n_blk_per_group=1))


def _training_checkpoint(path, model_cfg, prefix, tokenizer, extra=None):
    state = {prefix + k: v for k, v in tokenizer.state_dict().items()}
    state.update(extra or {})
    text = Config(dict(model=model_cfg)).pretty_text
    torch.save(dict(state_dict=state, meta=dict(cfg=text)), path)


def _vqkd():
    cfg = {k: v for k, v in VQKD.items() if k != 'type'}
    return randomize_(VQKDTokenizer(**cfg), 0).eval()


@torch.no_grad()
def test_vqkd_training_checkpoint_exports_with_its_config(tmp_path):
    tok = _vqkd()
    _training_checkpoint(tmp_path / 'vqkd.pth', dict(type='VQKD', tokenizer=VQKD,
                                                      teacher=dict(type='CLIPTeacher')),
                         'tokenizer.', tok, {'teacher.proj': torch.zeros(2)})
    dst = tmp_path / 'vqkd.safetensors'
    export_tokenizer.main([str(tmp_path / 'vqkd.pth'), str(dst)])
    x = torch.randn(3, 3, 16, 16)
    want = tok.tokenize(x)

    rebuilt = build_tokenizer_from_file(str(dst))
    assert torch.equal(rebuilt.tokenize(x), want)
    assert torch.equal(rebuilt.reconstruct(x)['features'], tok.reconstruct(x)['features'])
    cfg = {k: v for k, v in VQKD.items() if k not in ('type', 'checkpoint')}
    assert torch.equal(VQKDTokenizer(**cfg, checkpoint=str(dst)).eval().tokenize(x), want)

    with safe_open(str(dst), framework='pt') as f:  # readable without mmbeit
        meta = json.loads(f.metadata()['mmbeit_meta'])
        assert 'quantize.embedding.weight' in f.keys()
    assert meta['tokenizer']['type'] == 'VQKDTokenizer' and meta['num_tokens'] == 64


@torch.no_grad()
def test_beit_target_generator_without_decoder_and_dvae(tmp_path):
    tok = _vqkd()
    _training_checkpoint(tmp_path / 'beitv2.pth', dict(type='BEiT', target_generator=VQKD),
                         'target_generator.', tok, {'backbone.cls_token': torch.zeros(1)})
    dst = tmp_path / 'enc.safetensors'
    export_tokenizer.main([str(tmp_path / 'beitv2.pth'), str(dst), '--no-decoder'])
    rebuilt = build_tokenizer_from_file(str(dst))
    assert rebuilt.decoder is None
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(rebuilt.tokenize(x), tok.tokenize(x))

    dvae = randomize_(DALLEdVAE(**{k: v for k, v in DVAE.items() if k != 'type'}), 1).eval()
    _training_checkpoint(tmp_path / 'dvae.pth', dict(type='DVAE', tokenizer=DVAE), 'tokenizer.',
                         dvae)
    dst = tmp_path / 'dvae.safetensors'
    export_tokenizer.main([str(tmp_path / 'dvae.pth'), str(dst)])
    images = torch.rand(2, 3, 32, 32)
    assert torch.equal(build_tokenizer_from_file(str(dst)).tokenize(images),
                       dvae.tokenize(images))
    kwargs = {k: v for k, v in DVAE.items() if k != 'type'}
    assert torch.equal(DALLEdVAE(checkpoint=str(dst), **kwargs).eval().tokenize(images),
                       dvae.tokenize(images))


def test_a_leftover_tensor_is_an_error_naming_it(tmp_path):
    tok = _vqkd()
    _training_checkpoint(tmp_path / 'bad.pth', dict(type='VQKD', tokenizer=VQKD), 'tokenizer.',
                         tok, {'tokenizer.encoder.extra': torch.zeros(1)})
    with pytest.raises(StateDictMismatchError, match='encoder.extra'):
        export_tokenizer.main([str(tmp_path / 'bad.pth'), str(tmp_path / 'x.safetensors')])
