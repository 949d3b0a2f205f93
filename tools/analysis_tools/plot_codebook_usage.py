"""Plot codebook usage / perplexity / restarts over training -> PNG.

    python tools/analysis_tools/plot_codebook_usage.py WORK_DIR/codebook_usage.json \
        [--out usage.png]

The JSON is the curve written by ``CodebookUsageHook`` (one point per window).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import List, Optional


def load_curve(path: str) -> List[dict]:
    points = json.loads(Path(path).read_text())
    if not isinstance(points, list) or not points or 'usage' not in points[0]:
        raise ValueError(f'{path} is not a CodebookUsageHook curve (a list of points with '
                         '"iter", "usage", "perplexity", "restarts")')
    return points


def plot_curve(points: List[dict], out: str) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    iters = [p['iter'] for p in points]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in zip(axes, ('usage', 'perplexity', 'restarts'),
                              ('codes used in window (%)', 'perplexity',
                               'dead-code restarts (cumulative)')):
        ax.plot(iters, [p[key] for p in points], marker='.')
        ax.set_xlabel('iteration')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 105)
    fig.suptitle(f'codebook of {points[0].get("num_codes", "?")} codes')
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: Optional[list] = None) -> str:
    parser = argparse.ArgumentParser(description='plot codebook usage over training')
    parser.add_argument('curve', help='codebook_usage.json written by CodebookUsageHook')
    parser.add_argument('--out', default=None, help='PNG path (default: next to the json)')
    args = parser.parse_args(argv)
    out = args.out or str(Path(args.curve).with_suffix('.png'))
    plot_curve(load_curve(args.curve), out)
    print(f'saved {out}')
    return out


if __name__ == '__main__':
    main()
