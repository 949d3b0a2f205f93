"""Frozen tokenizers / teachers under autocast: one cast copy, bit-identical outputs."""
from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from mmbeit.models.tokenizers import DALLEdVAE, VQKDTokenizer
from mmbeit.models.utils import AutocastWeights

VQKD = dict(encoder=dict(arch=dict(embed_dims=64, num_layers=2, num_heads=2), img_size=32,
                         patch_size=8),
            num_tokens=32, code_dims=8, decoder=None, target_dims=24)


def _casts(fn) -> int:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.count for e in prof.key_averages() if e.key in ('aten::_to_copy',))


@pytest.mark.parametrize('build', [
    lambda: VQKDTokenizer(**VQKD),
    lambda: DALLEdVAE(encoder=dict(group_count=2, n_hid=16, n_blk_per_group=1, num_tokens=32),
                      with_decoder=False)])
def test_cast_copy_gives_identical_ids_without_per_call_weight_casts(build):
    torch.manual_seed(0)
    tokenizer = build().eval()
    tokenizer.init_weights()
    tokenizer.requires_grad_(False)  # frozen, as BEiT holds it (autocast caches no cast then)
    cache = AutocastWeights()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    assert cache.get(tokenizer, 'cpu') is tokenizer  # no autocast: the module itself
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        reference = tokenizer.tokenize(images)
        fast = cache.get(tokenizer, 'cpu')
        assert fast is not tokenizer and cache.get(tokenizer, 'cpu') is fast  # made once
        assert torch.equal(fast.tokenize(images), reference)
        slow_casts = _casts(lambda: tokenizer.tokenize(images))
        fast_casts = _casts(lambda: fast.tokenize(images))
    assert fast_casts < slow_casts / 2, (fast_casts, slow_casts)
    # state and parameters are the fp32 original's only
    assert all(p.dtype == torch.float32 for p in tokenizer.parameters())
    assert set(tokenizer.state_dict()) == set(fast.state_dict())


def test_copy_follows_new_weights_and_dtype():
    torch.manual_seed(0)
    tokenizer = VQKDTokenizer(**VQKD).eval()
    tokenizer.init_weights()
    other = VQKDTokenizer(**VQKD).eval()
    other.init_weights()
    tokenizer.requires_grad_(False)
    cache = AutocastWeights()
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        with torch.autocast('cpu', dtype=torch.bfloat16):
            first = cache.get(tokenizer, 'cpu')
            tokenizer.load_state_dict(other.state_dict())  # in-place writes: versions move
            second = cache.get(tokenizer, 'cpu')
            assert second is not first
            assert torch.equal(second.tokenize(images), other.tokenize(images))
        with torch.autocast('cpu', dtype=torch.float16):
            assert cache.get(tokenizer, 'cpu').encoder.blocks[0].mlp.fc1.weight.dtype == \
                torch.float16
