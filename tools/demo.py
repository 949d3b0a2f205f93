"""The end-to-end demo on the embedded digits data, with a report.

    python tools/demo.py [--work-dir work_dirs/demo] [--precision auto|fp32|bf16]
        [--cfg-options KEY=VALUE ...] [--stage-options JSON]

Stages (each a normal ``tools/train.py`` run of a config in ``configs/demo/``):
  1. MoCo v3 tiny ViT pretraining, kNN monitor on
  2. VQ-KD tokenizer training, the stage-1 MoCo v3 backbone as teacher
  3. BEiT v2 pretraining with the stage-2 tokenizer, block masking and patch aggregation
  4. kNN and linear-probe top-1 of every pretrained backbone and of random initialisations
  5. ``{work_dir}/report.md`` / ``report.html`` with tables and figures

A stage whose final checkpoint exists is skipped; an interrupted stage resumes (``--resume``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmbeit.utils.cpu_precision import PRECISIONS  # noqa: E402


@dataclass
class Stage:
    name: str
    config: str
    title: str
    # cfg option -> name of an earlier stage whose final checkpoint it receives
    inputs: Dict[str, str] = field(default_factory=dict)


STAGES: List[Stage] = [
    Stage('mocov3', 'configs/demo/mocov3_vit-tiny-p4_1xb128-demo_digits.py',
          'MoCo v3 pretraining (tiny ViT, kNN monitor)'),
    Stage('vqkd', 'configs/demo/vqkd_vit-tiny-p4_1xb64-mocov3-teacher-demo_digits.py',
          'VQ-KD tokenizer, MoCo v3 teacher', {'model.teacher.checkpoint': 'mocov3'}),
    Stage('beitv2', 'configs/demo/beitv2_vit-tiny-p4_1xb64-demo_digits.py',
          'BEiT v2 pretraining with the VQ-KD tokenizer',
          {'model.target_generator.checkpoint': 'vqkd'}),
]
ITER_RE = re.compile(r'Iter\(train\) \[\s*(\d+)/(\d+)\]')


def final_checkpoint(work_dir: Path) -> Optional[Path]:
    """The checkpoint a finished stage left (its DONE marker names it)."""
    done = work_dir / 'DONE'
    if done.exists():
        path = Path(done.read_text().strip())
        if path.exists():
            return path
    return None


def run_stage(stage: Stage, work_dir: Path, ckpts: Dict[str, Path], extra: List[str],
              precision: str = 'auto') -> Path:
    """Train one stage (or resume it) with a progress bar; return its final checkpoint."""
    from tqdm import tqdm

    stage_dir = work_dir / stage.name
    done = final_checkpoint(stage_dir)
    if done is not None:
        print(f'[{stage.name}] already done: {done}')
        return done
    stage_dir.mkdir(parents=True, exist_ok=True)
    options = [f'{k}={ckpts[v]}' for k, v in stage.inputs.items()] + extra
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), str(REPO / stage.config),
           '--work-dir', str(stage_dir), '--resume', '--precision', precision]
    if options:
        cmd += ['--cfg-options', *options]
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    log_path = stage_dir / 'demo_stage.log'
    with open(log_path, 'a') as log, tqdm(desc=stage.name, unit='it', dynamic_ncols=True) as bar:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            m = ITER_RE.search(line)
            if m:
                bar.total = int(m.group(2))
                bar.n = int(m.group(1))
                bar.refresh()
        if proc.wait() != 0:
            raise SystemExit(f'[{stage.name}] training failed (exit {proc.returncode}); see '
                             f'{log_path}. Run the demo again to resume this stage.')
    last = stage_dir / 'last_checkpoint'
    final = Path(last.read_text().strip()) if last.exists() else None
    if final is None or not final.exists():
        raise SystemExit(f'[{stage.name}] finished without a checkpoint; see {log_path}')
    (stage_dir / 'DONE').write_text(str(final) + '\n')
    return final


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='mmbeit end-to-end demo on embedded data')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='extra key=value overrides passed to every stage')
    parser.add_argument('--stage-options', type=json.loads, default={},
                        help='JSON {stage: [key=value, ...]} overrides for single stages')
    parser.add_argument('--precision', choices=PRECISIONS, default='auto',
                        help="every stage's tools/train.py --precision (auto: bf16 autocast "
                        'only on CPUs with AMX-BF16 / AVX512-BF16, else fp32)')
    return parser.parse_args(argv)


def main(argv=None) -> Path:
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    start = time.time()
    ckpts: Dict[str, Path] = {}
    for i, stage in enumerate(STAGES, 1):
        print(f'== stage {i}/{len(STAGES) + 2}: {stage.title}')
        extra = list(args.cfg_options) + list(args.stage_options.get(stage.name, []))
        ckpts[stage.name] = run_stage(stage, work_dir, ckpts, extra, args.precision)
    print(f'== stage {len(STAGES) + 1}/{len(STAGES) + 2}: evaluation (kNN, linear probe)')
    from mmbeit.apis.demo_report import evaluate_and_report

    report = evaluate_and_report(work_dir, ckpts, {s.name: REPO / s.config for s in STAGES})
    print(f'== stage {len(STAGES) + 2}/{len(STAGES) + 2}: report written in '
          f'{time.time() - start:.0f} s')
    print(f'Report: {report}')
    return report


if __name__ == '__main__':
    main()
