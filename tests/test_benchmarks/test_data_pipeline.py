"""benchmarks/data_pipeline.py keeps working: every recipe's pipeline builds on both sides from
the configs, yields the same kind of sample, and the CLI prints its conditions and a row per
recipe (timings are not asserted here)."""
from __future__ import annotations

import importlib.util
import re

import cv2
import torch

from tests.conftest import REPO_ROOT


def _bench():
    spec = importlib.util.spec_from_file_location(
        'data_pipeline_bench', REPO_ROOT / 'benchmarks' / 'data_pipeline.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_both_sides_build_every_recipe_and_pack_the_same_views(tmp_path):
    bench = _bench()
    path = str(bench._photos_module().write_photo_jpegs(tmp_path, 1)[0])
    for recipe in bench.RECIPES:
        samples = {side: bench.run_once(bench.build_pipeline(recipe, side), path)
                   for side in ('mmbeit', 'mmpretrain')}
        views = {side: s['inputs'] if isinstance(s['inputs'], list) else [s['inputs']]
                 for side, s in samples.items()}
        assert [v.shape for v in views['mmbeit']] == [v.shape for v in views['mmpretrain']]
        assert all(v.dtype == torch.uint8 for v in views['mmbeit'])
        if recipe.startswith('beit'):
            assert samples['mmbeit']['data_samples'].mask.shape == (14, 14)


def test_cli_prints_conditions_and_a_row_per_recipe(tmp_path, capsys):
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        _bench().main(['--recipes', 'vqkd', 'beitv2', '--photos', '3', '--rounds', '1',
                       '--per-transform', '--photo-dir', str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)
    out = capsys.readouterr().out
    assert out.startswith('conditions: ') and '3 photo JPEGs' in out
    for recipe in ('vqkd', 'beitv2'):
        assert re.search(rf'^{recipe} +[\d.]+ +[\d.]+ +[\d.]+x +[\d.]+ +[\d.]+% ', out, re.M)
    assert 'JitterFlipTwoPicResizedCrop' in out and 'ColorJitter' in out
