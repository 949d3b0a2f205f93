"""benchmarks/codebook_usage.py: both recipes train on the digits with the same seed, per-epoch
validation usage / perplexity / cosine are printed, and the run ends with the summary line."""
from __future__ import annotations

import importlib.util
import re

import torch

from tests.conftest import REPO_ROOT

TINY_ARGV = ['--num-tokens', '16', '--code-dims', '8', '--patch-size', '8', '--epochs', '2',
             '--batch-size', '16', '--max-train', '48', '--max-val', '16', '--threads', '1',
             '--dead-code-window', '1']


def _bench():
    spec = importlib.util.spec_from_file_location(
        'codebook_usage_bench', REPO_ROOT / 'benchmarks' / 'codebook_usage.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_recipes_print_per_epoch_usage_and_the_summary_line(capsys, digits_root):
    threads = torch.get_num_threads()
    try:
        results = _bench().main(TINY_ARGV + ['--data-root', str(digits_root)])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert set(results) == {'official', 'mmbeit'}
    for name, history in results.items():
        assert [h['epoch'] for h in history] == [1, 2]
        for h in history:
            assert 0 < h['usage'] <= 100 and 1 <= h['perplexity'] <= 16
            assert -1 <= h['cosine'] <= 1
        assert out.count(f'[{name}] epoch') == 2
    assert results['official'][-1]['restarts'] == 0  # the official recipe never restarts
    assert results['mmbeit'][-1]['restarts'] > 0  # window 1: unused codes are re-seeded
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r'usage K=16: \d+\.\d% \(official recipe \d+\.\d%\)', last), last
    assert f'{results["mmbeit"][-1]["usage"]:.1f}%' in last


def test_random_resized_crops_keep_the_shape_and_are_seeded():
    bench = _bench()
    images = torch.rand(3, 3, 32, 32)
    a = bench.random_resized_crops(images, torch.Generator().manual_seed(1))
    b = bench.random_resized_crops(images, torch.Generator().manual_seed(1))
    assert a.shape == images.shape and torch.equal(a, b)


def test_quantizer_json_is_merged_over_the_mmbeit_recipe_only(digits_root):
    bench = _bench()
    built = {}
    build = bench.build_model

    def spy(num_tokens, code_dims, patch_size, quantizer, seed):
        built[len(built)] = dict(quantizer)
        return build(num_tokens, code_dims, patch_size, quantizer, seed)

    bench.build_model = spy
    threads = torch.get_num_threads()
    try:
        bench.main(TINY_ARGV[:TINY_ARGV.index('--dead-code-window')] + [
            '--epochs', '1', '--quantizer', '{"decay": 0.5, "dead_code_window": 3}',
            '--data-root', str(digits_root)])
    finally:
        torch.set_num_threads(threads)
    assert built[0] == bench.RECIPES['official']  # the official recipe as is
    assert built[1] == dict(bench.RECIPES['mmbeit'], decay=0.5, dead_code_window=3)
