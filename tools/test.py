"""Evaluate a checkpoint with a config's test (or val) loop.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--amp]
        [--cfg-options KEY=VALUE ...] [--launcher none|pytorch|slurm|mpi]
"""
from __future__ import annotations

import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmbeit.engine  # noqa: F401  (installs the weights-only checkpoint loader)
from mmbeit.engine.runner import close_process_group, init_cpu_process_group


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation logs')
    parser.add_argument('--out', help='dump the per-sample predictions to this pickle file '
                        '(DumpResults); the metrics are printed and logged to the work dir')
    parser.add_argument('--amp', action='store_true', help='evaluate under autocast')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if cfg.get('test_dataloader') is None and cfg.get('val_dataloader') is not None:
        cfg.test_dataloader, cfg.test_evaluator = cfg.val_dataloader, cfg.val_evaluator
        cfg.test_cfg = cfg.get('test_cfg') or dict(type='TestLoop')
    if args.amp:
        cfg.test_cfg['fp16'] = True
    if not torch.cuda.is_available():
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if args.out:
        cfg.setdefault('test_evaluator', [])
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
            cfg.test_evaluator]
        evaluators.append(dict(type='DumpResults', out_file_path=args.out))
        cfg.test_evaluator = evaluators
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if init_cpu_process_group(args.launcher):  # tools/dist_test.sh on a machine without GPUs
        cfg.setdefault('model_wrapper_cfg', dict(type='mmbeit.CPUDistributedDataParallel'))
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    close_process_group()
    return metrics


if __name__ == '__main__':
    main()
