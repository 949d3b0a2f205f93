"""tools/demo.py: the whole chain with minimal iterations; every report artefact; skip / resume."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

FIGURES = ('mocov3_loss.png', 'mocov3_knn.png', 'vqkd_loss.png', 'vqkd_usage.png',
           'beitv2_loss.png', 'beitv2_mlm_acc.png', 'masks.png', 'codebook_patches.png')
OPTIONS = ['--cfg-options', 'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=2',
           'default_hooks.checkpoint.max_keep_ckpts=2']


def test_demo_writes_report_then_skips_done_stages_and_resumes_interrupted(tmp_path,
                                                                           digits_root):
    from tools.demo import main

    work = tmp_path / 'demo'
    report = main(['--work-dir', str(work), *OPTIONS])
    text = report.read_text()
    results = json.loads((work / 'results.json').read_text())
    assert [r['model'] for r in results] == [
        'MoCo v3 (CLS)', '  random init, same arch', 'VQ-KD tokens (decoded, mean patch)',
        '  random init, same arch', 'BEiT v2 (mean patch)', '  random init, same arch']
    assert [r['pooling'] for r in results] == ['cls', 'cls'] + ['mean_patch'] * 4
    for r in results:
        # kNN top-1 is a count of correct val scans (359), rounded to 2 decimals
        correct = round(r['knn_top1'] * 359 / 100)
        assert round(100 * correct / 359, 2) == r['knn_top1'], r
        assert r['model'] in text
    curve = json.loads((work / 'vqkd' / 'codebook_usage.json').read_text())
    assert 'Codebook usage (VQ-KD)' in text
    last = curve[-1]
    assert f"| {last['iter']} | {last['usage']:.1f} | {last['used_codes']} / " in text
    for name in FIGURES:
        assert (work / 'figures' / name).stat().st_size > 2000, name
        assert f'figures/{name}' in text
    assert (work / 'report.html').read_text().count('<img') == len(FIGURES)
    for stage in ('mocov3', 'vqkd', 'beitv2'):
        assert str(work / stage / 'iter_3.pth') in text

    # an interrupted last stage: only its iteration-2 checkpoint survived
    beit = work / 'beitv2'
    (beit / 'DONE').unlink()
    (beit / 'iter_3.pth').unlink()
    (beit / 'last_checkpoint').write_text(str(beit / 'iter_2.pth'))
    done_before = {s: (work / s / 'iter_3.pth').stat().st_mtime_ns for s in ('mocov3', 'vqkd')}
    main(['--work-dir', str(work), *OPTIONS])
    assert done_before == {s: (work / s / 'iter_3.pth').stat().st_mtime_ns
                           for s in ('mocov3', 'vqkd')}
    assert 'Advance dataloader 2 steps' in (beit / 'demo_stage.log').read_text()
    assert (beit / 'iter_3.pth').exists()
