"""Training curves from MMEngine's ``vis_data/scalars.json`` logs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

LINE_STYLES = ('-', '--', ':', '-.')


def save_figure(fig, path: Union[str, Path], **kwargs) -> Path:
    """``tight_layout``, write ``path`` (its folder made), close the figure; returns the path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **kwargs)
    plt.close(fig)
    return path


def read_scalars(work_dir: Union[str, Path]) -> List[dict]:
    """All scalar records of a work dir, resumed runs merged, sorted by step.

    MMEngine's ``LocalVisBackend`` writes ``{work_dir}/{timestamp}/vis_data/scalars.json`` (one
    json object per line) for every launch; a resumed run starts a new timestamp folder. Records
    of the same step and keys from a later launch replace earlier ones.
    """
    merged: Dict[Tuple[int, Tuple[str, ...]], dict] = {}
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if 'step' in rec:
                merged[(int(rec['step']), tuple(sorted(rec)))] = rec
    return [merged[k] for k in sorted(merged)]


def series(records: Sequence[dict], key: str) -> Tuple[List[int], List[float]]:
    """(steps, values) of ``key`` over the records that have it."""
    pts = [(int(r['step']), float(r[key])) for r in records if key in r]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_curves(curves: Dict[str, Tuple[Sequence[float], Sequence[float]]], path: Union[str, Path],
                title: str = '', xlabel: str = 'iteration', ylabel: str = '') -> Path:
    """One line per named (x, y) series, saved as PNG.

    Series get distinct line styles (near-equal curves, e.g. BEiT v2's two losses, stay visible
    on top of each other); a percentage axis (``ylabel`` with '%') spans 0-100 so that a flat
    line near 100 % reads as flat, not as noise on a zoomed axis.
    """
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=110)
    for i, (name, (x, y)) in enumerate(curves.items()):
        if len(x):
            ax.plot(x, y, label=name, marker='o' if len(x) < 15 else None, markersize=3,
                    linestyle=LINE_STYLES[i % len(LINE_STYLES)], linewidth=1.6 - 0.3 * (i % 3))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    values = [v for _, y in curves.values() for v in y]
    if '%' in ylabel and values and 0 <= min(values) and max(values) <= 100:
        ax.set_ylim(0, 102)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
