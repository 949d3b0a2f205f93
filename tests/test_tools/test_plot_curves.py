"""plot_curves tool: merges resumed launches and names missing keys."""
from __future__ import annotations

import json

import pytest

from tools.analysis_tools.plot_curves import main


def _write(path, records):
    path.mkdir(parents=True)
    (path / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in records) + '\n')


def test_resumed_launches_are_merged_and_plotted(tmp_path):
    from mmbeit.visualization import read_scalars, series

    _write(tmp_path / '20260101_000000' / 'vis_data', [{'loss': 3.0, 'step': 1},
                                                        {'loss': 2.5, 'step': 2}])
    _write(tmp_path / '20260101_010000' / 'vis_data', [{'loss': 2.4, 'step': 2},
                                                        {'loss': 2.0, 'step': 3}])
    assert series(read_scalars(tmp_path), 'loss') == ([1, 2, 3], [3.0, 2.4, 2.0])
    out = main([str(tmp_path), '--keys', 'loss', '--out', str(tmp_path / 'c.png')])
    assert out.stat().st_size > 1000


def test_unknown_key_lists_logged_keys(tmp_path):
    _write(tmp_path / 't' / 'vis_data', [{'loss': 1.0, 'step': 1}])
    with pytest.raises(SystemExit, match="logged keys: \\['loss'\\]"):
        main([str(tmp_path), '--keys', 'acc', '--out', str(tmp_path / 'c.png')])


def test_equal_curves_stay_distinguishable_and_percent_axes_span_0_to_100(tmp_path,
                                                                          monkeypatch):
    from mmbeit.visualization import curves

    figures = []
    monkeypatch.setattr(curves, 'save_figure', lambda fig, path, **kw: figures.append(fig))
    steps = [1, 2, 3, 4] * 5
    curves.plot_curves({'loss': (steps, [2.0] * 20), 'loss_agg': (steps, [2.0] * 20)},
                       tmp_path / 'a.png', ylabel='cross-entropy')
    styles = [line.get_linestyle() for line in figures[0].axes[0].get_lines()]
    assert len(set(styles)) == 2  # the second line is dashed over the first
    curves.plot_curves({'usage': ([1, 2, 3], [99.0, 99.5, 99.2])}, tmp_path / 'u.png',
                       ylabel='% codes used')
    assert figures[1].axes[0].get_ylim() == (0.0, 102.0)
    assert figures[1].axes[0].get_ylabel() == '% codes used'
