"""DALL-E dVAE tokenizer: release key layout, layout detection, pixel mapping, tokenize/decode."""
from __future__ import annotations

import math

import pytest
import torch

from mmbeit.models.losses import logit_laplace_nll, map_pixels, unmap_pixels
from mmbeit.models.tokenizers import DALLEDecoder, DALLEdVAE, DALLEEncoder
from mmbeit.models.tokenizers.dalle_layouts import detect_dalle_prefix, extract_dalle_state_dict
from mmbeit.utils import StateDictMismatchError


def release_layout(part: str, n_hid: int = 256, n_blk: int = 2, vocab: int = 8192,
                   n_init: int = 128, groups: int = 4) -> dict:
    """Key -> shape of OpenAI's dall_e Encoder / Decoder state dict, written from its spec."""
    shapes = {}

    def conv(name, n_in, n_out, k):
        shapes[f'{name}.w'] = (n_out, n_in, k, k)
        shapes[f'{name}.b'] = (n_out,)

    if part == 'encoder':
        conv('blocks.input', 3, n_hid, 7)
        widths, first_in, kernels = [2 ** g * n_hid for g in range(groups)], n_hid, (3, 3, 3, 1)
    else:
        conv('blocks.input', vocab, n_init, 1)
        widths = [2 ** (groups - 1 - g) * n_hid for g in range(groups)]
        first_in, kernels = n_init, (1, 3, 3, 3)
    n_in = first_in
    for g, out in enumerate(widths):
        for i in range(n_blk):
            prefix = f'blocks.group_{g + 1}.block_{i + 1}'
            if n_in != out:
                conv(f'{prefix}.id_path', n_in, out, 1)
            hid = out // 4
            chans = [n_in, hid, hid, hid, out]
            for j, k in enumerate(kernels):
                conv(f'{prefix}.res_path.conv_{j + 1}', chans[j], chans[j + 1], k)
            n_in = out
    conv('blocks.output.conv', n_in, vocab if part == 'encoder' else 6, 1)
    return shapes


def random_release_state_dict(part: str, seed: int = 0, **kw) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen) * 0.1 for k, s in release_layout(part, **kw).items()}


SMALL = dict(n_hid=16, n_blk=1, vocab=32, n_init=16, groups=4)
SMALL_CFG = dict(encoder=dict(n_hid=16, n_blk_per_group=1, num_tokens=32),
                 decoder=dict(n_init=16, n_hid=16, n_blk_per_group=1))


def test_full_size_modules_have_release_key_names_and_shapes():
    for part, module in (('encoder', DALLEEncoder()), ('decoder', DALLEDecoder())):
        ours = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        assert ours == release_layout(part)


def test_release_and_prefixed_checkpoints_load_and_tokenize_identically(tmp_path):
    enc, dec = random_release_state_dict('encoder', **SMALL), random_release_state_dict(
        'decoder', seed=1, **SMALL)
    release = tmp_path / 'dalle_encoder_release.pth'
    torch.save(enc, release)  # what dall_e's Encoder.state_dict() gives
    mmpre = tmp_path / 'dalle_encoder_mmpretrain.pth'
    torch.save({'state_dict': {f'encoder.{k}': v for k, v in enc.items()}}, mmpre)
    dec_file = tmp_path / 'dalle_decoder_release.pth'
    torch.save(dec, dec_file)

    a = DALLEdVAE(checkpoint=str(release), decoder_checkpoint=str(dec_file), **SMALL_CFG)
    b = DALLEdVAE(checkpoint=str(mmpre), with_decoder=False, **SMALL_CFG)
    c = DALLEdVAE(init_cfg=dict(type='Pretrained', checkpoint=str(mmpre)), with_decoder=False,
                  **SMALL_CFG)
    c.init_weights()
    for name, tensor in enc.items():
        assert torch.equal(a.encoder.state_dict()[name], tensor)
    for name, tensor in dec.items():
        assert torch.equal(a.decoder.state_dict()[name], tensor)

    images = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    ids = a.tokenize(images)
    assert ids.dtype == torch.long and ids.shape == (2, 4, 6)
    assert ids.min() >= 0 and ids.max() < 32
    assert torch.equal(ids, b.tokenize(images))
    assert torch.equal(ids, c.tokenize(images))
    assert a.decode(ids).shape == (2, 3, 32, 48)


def test_training_checkpoint_prefixes_are_detected_per_part():
    enc = random_release_state_dict('encoder', **SMALL)
    dec = random_release_state_dict('decoder', **SMALL)
    ckpt = {'meta': {}, 'state_dict': {**{f'tokenizer.encoder.{k}': v for k, v in enc.items()},
                                        **{f'tokenizer.decoder.{k}': v for k, v in dec.items()}}}
    assert detect_dalle_prefix(ckpt['state_dict'], 'encoder') == 'tokenizer.encoder.'
    got, prefix = extract_dalle_state_dict(ckpt, 'decoder')
    assert prefix == 'tokenizer.decoder.' and set(got) == set(dec)


def test_missing_or_misshaped_checkpoint_names_the_problem(tmp_path):
    with pytest.raises(KeyError, match='blocks.input.w'):
        extract_dalle_state_dict({'backbone.x': torch.zeros(1)}, 'encoder')
    enc = random_release_state_dict('encoder', **SMALL)
    path = tmp_path / 'wrong_width.pth'
    torch.save(enc, path)
    with pytest.raises(StateDictMismatchError, match='blocks.input.w'):
        DALLEdVAE(checkpoint=str(path), encoder=dict(n_hid=32, n_blk_per_group=1,
                                                     num_tokens=32), with_decoder=False)


def test_map_and_unmap_pixels_are_inverse_and_use_eps_0_1():
    x = torch.rand(2, 3, 8, 8)
    mapped = map_pixels(x)
    assert mapped.min() >= 0.1 and mapped.max() <= 0.9
    assert torch.allclose(map_pixels(torch.tensor([0.0, 1.0])), torch.tensor([0.1, 0.9]))
    assert torch.allclose(unmap_pixels(mapped), x, atol=1e-6)
    assert torch.equal(unmap_pixels(torch.tensor([0.0, 1.0])), torch.tensor([0.0, 1.0]))


def test_input_ranges_give_the_same_tokens():
    model = DALLEdVAE(with_decoder=False, **{k: v for k, v in SMALL_CFG.items()
                                              if k == 'encoder'})
    x = torch.rand(2, 3, 16, 16)
    ids = model.tokenize(x)
    model.input_range = 'byte'
    assert torch.equal(model.tokenize(x * 255), ids)
    model.input_range = 'mapped'
    assert torch.equal(model.tokenize(map_pixels(x)), ids)
    with pytest.raises(ValueError, match='multiples of 8'):
        model.tokenize(torch.rand(1, 3, 12, 16))
    with pytest.raises(ValueError, match='input_range'):
        DALLEdVAE(input_range='imagenet')


def test_decoding_ids_equals_decoding_one_hot_codes():
    model = DALLEdVAE(**SMALL_CFG)
    ids = torch.randint(0, 32, (2, 3, 5))
    one_hot = torch.nn.functional.one_hot(ids, 32).permute(0, 3, 1, 2).float()
    stats_ids, stats_hot = model.decode_stats(ids), model.decode_stats(one_hot)
    assert stats_ids.shape == (2, 6, 24, 40)
    assert torch.allclose(stats_ids, stats_hot, atol=1e-5)


def test_logit_laplace_nll_matches_hand_computation_and_normalises():
    x, mu, log_b = 0.3, 0.2, -0.5
    b = math.exp(log_b)
    hand = math.log(2 * b * x * (1 - x)) + abs(math.log(x / (1 - x)) - mu) / b
    got = logit_laplace_nll(torch.full((1, 1, 1, 1), x), torch.full((1, 1, 1, 1), mu),
                            torch.full((1, 1, 1, 1), log_b))
    assert got.item() == pytest.approx(hand, rel=1e-5)
    # a density on (0, 1): exp(-nll) integrates to 1
    grid = torch.linspace(1e-6, 1 - 1e-6, 200001, dtype=torch.float64).view(1, 1, 1, -1)
    nll = logit_laplace_nll(grid.float(), torch.full_like(grid, 0.4).float(),
                            torch.full_like(grid, -1.0).float(), reduction='none')
    integral = torch.trapezoid(torch.exp(-nll.double()).flatten(), grid.flatten())
    assert integral.item() == pytest.approx(1.0, abs=2e-3)
