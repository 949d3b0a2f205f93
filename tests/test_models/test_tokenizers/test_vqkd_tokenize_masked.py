"""VQ-KD ids of the masked positions only: the last encoder block on those rows alone."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mmbeit.models.tokenizers import VQKDTokenizer


def _tokenizer():
    torch.manual_seed(0)
    tok = VQKDTokenizer(encoder=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2),
                                     img_size=16, patch_size=4),
                        num_tokens=64, code_dims=8, decoder=None).eval()
    tok.init_weights()
    return tok


def _mask(per_image=None):
    g = torch.Generator().manual_seed(1)
    if per_image is None:
        return torch.rand(3, 16, generator=g) < 0.5
    mask = torch.zeros(3, 16, dtype=torch.bool)
    for row in mask:
        row[torch.randperm(16, generator=g)[:per_image]] = True
    return mask


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize('per_image', [None, 5], ids=['ragged', 'same-count'])
def test_tokenize_masked_equals_tokenize_at_the_masked_positions(per_image):
    tok, mask = _tokenizer(), _mask(per_image)
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    assert torch.equal(tok.tokenize_masked(images, mask), tok.tokenize(images).flatten(1)[mask])


def test_encoder_rows_give_the_full_encoders_features_in_bf16_too():
    tok, mask = _tokenizer(), _mask(5)
    rows = mask.nonzero()[:, 1].view(3, -1) + 1
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    for bf16, tol in ((False, 1e-5), (True, 2e-2)):
        with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            full = tok.encode_features(images)[mask]
            part = tok.encode_features(images, rows).flatten(0, 1)
        torch.testing.assert_close(part, full, atol=tol, rtol=tol)


def test_same_count_masks_skip_the_unmasked_rows():
    tok = _tokenizer()
    images = torch.rand(3, 3, 16, 16) * 2 - 1
    assert (_flops(lambda: tok.tokenize_masked(images, _mask(5)))
            < _flops(lambda: tok.tokenize(images)))


def test_mask_of_another_grid_is_refused_naming_both():
    tok = _tokenizer()
    with pytest.raises(ValueError, match=r'4x4 grid.*\(3, 16\)'):
        tok.tokenize_masked(torch.rand(3, 3, 16, 16), torch.ones(3, 9, dtype=torch.bool))
