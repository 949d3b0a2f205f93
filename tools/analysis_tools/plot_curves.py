"""Plot logged scalars of one or more work dirs (resumed runs merged).

    python tools/analysis_tools/plot_curves.py WORK_DIR [WORK_DIR ...] --keys loss mlm_acc \
        [--out curves.png]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from mmbeit.visualization import plot_curves, read_scalars, series


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description='plot scalars from MMEngine work dirs')
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--keys', nargs='+', default=['loss'])
    parser.add_argument('--out', default='curves.png')
    parser.add_argument('--title', default='')
    args = parser.parse_args(argv)
    curves = {}
    for wd in args.work_dirs:
        records = read_scalars(wd)
        if not records:
            raise SystemExit(f'no */vis_data/scalars.json under {wd}')
        for key in args.keys:
            x, y = series(records, key)
            if not x:
                known = sorted({k for r in records for k in r} - {'step'})
                raise SystemExit(f'{wd} has no scalar {key!r}; logged keys: {known}')
            label = key if len(args.work_dirs) == 1 else f'{Path(wd).name}: {key}'
            curves[label] = (x, y)
    out = plot_curves(curves, args.out, title=args.title)
    print(f'saved {out}')
    return out


if __name__ == '__main__':
    main()
