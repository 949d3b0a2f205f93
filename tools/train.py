"""Train a model from an mmbeit (or mmpretrain / mmdet / mmseg) config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--zero]
        [--precision auto|fp32|bf16]
        [--auto-scale-lr] [--cfg-options KEY=VALUE ...] [--launcher none|pytorch|slurm|mpi]

A config with a ``strategy`` (FSDPStrategy / DeepSpeedStrategy / DDPStrategy) runs in MMEngine's
``FlexibleRunner``; every other config in the plain ``Runner``. ``FSDPStrategy`` means
:class:`mmbeit.engine.runner.FSDPStrategy` (global-norm clipping, weight-decay groups by shape,
frozen tokenizers kept whole, resume on torch >= 2.1), which ``FlexibleRunner`` would not find
by its plain name. MMEngine's ``compile`` setting (``--cfg-options compile=True`` or
``compile.backend=...``) compiles the model's forward (``mmbeit.CompileModelHook``); the
optimizer step stays eager.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import FlexibleRunner, Runner

import mmbeit.engine  # noqa: F401  (installs the weights-only checkpoint loader)
from mmbeit.engine.runner import close_process_group, init_cpu_process_group
from mmbeit.engine.runner.config_check import check_config
from mmbeit.engine.runner.resume import newest_intact_checkpoint
from mmbeit.engine.runner.work_dir_lock import work_dir_lock
from mmbeit.utils.cpu_malloc import keep_freed_memory
from mmbeit.utils.cpu_precision import PRECISIONS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model with MMEngine')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no path')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: bf16 autocast (fp16 + loss scaling on GPUs '
                        'without bf16; on CPU only where bf16 matmuls run in hardware, see '
                        '--precision)')
    parser.add_argument('--precision', choices=PRECISIONS, default='auto',
                        help='auto (default): the config\'s precision, with CPU bf16 autocast '
                        'only on CPUs with AMX-BF16 / AVX512-BF16 (elsewhere fp32, logged); '
                        'fp32: no autocast / AMP; bf16: bf16 autocast / AMP on any machine')
    parser.add_argument('--zero', action='store_true',
                        help="shard optimizer states across ranks (ZeRO-1, MMEngine's "
                        'ZeroRedundancyOptimizer around the config optimizer; needs a launcher)')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--no-pin-memory', action='store_true')
    parser.add_argument('--no-persistent-workers', action='store_true')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value ("a.b=1 c=[1,2]")')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def use_amp(cfg: Config) -> None:
    """Mixed precision that also works on CPU (MMEngine's AmpOptimWrapper refuses CPU).

    A recipe that names ``mmbeit.MixedPrecisionOptimWrapper`` (the mmdet / mmseg transfer
    configs) already picks AMP on GPUs and fp32 on CPU, where mmcv's ops refuse bf16: kept.
    """
    wrapper = cfg.optim_wrapper
    if str(wrapper.get('type', '')).endswith('MixedPrecisionOptimWrapper'):
        return
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        wrapper.type = 'AmpOptimWrapper'
        wrapper.dtype = 'bfloat16' if bf16 else 'float16'
        if not bf16:
            wrapper.setdefault('loss_scale', 'dynamic')
        else:
            wrapper.pop('loss_scale', None)
    else:
        wrapper.type = 'mmbeit.AutocastOptimWrapper'
        wrapper.pop('loss_scale', None)
        wrapper.dtype = 'bfloat16'


def use_precision(cfg: Config, precision: str) -> None:
    """``--precision``: 'fp32' drops any autocast / AMP wrapper, 'bf16' forces bf16 autocast
    (AMP on GPUs), 'auto' leaves the config (and AutocastOptimWrapper's CPU rule) as it is."""
    wrapper = cfg.get('optim_wrapper')
    if precision == 'auto' or wrapper is None:
        return
    if precision == 'fp32':
        wrapper.type = 'OptimWrapper'
        for key in ('dtype', 'loss_scale', 'cpu_dtype', 'device_type', 'precision'):
            wrapper.pop(key, None)
        return
    if not torch.cuda.is_available() and str(wrapper.get('type', '')).endswith(
            'MixedPrecisionOptimWrapper'):
        wrapper.cpu_dtype = 'bfloat16'  # asked for: autocast although mmcv's CPU ops are fp32
        return
    use_amp(cfg)
    wrapper.dtype = 'bfloat16'
    wrapper.pop('loss_scale', None)
    if not torch.cuda.is_available():
        wrapper.precision = 'bf16'


def use_zero(cfg: Config, launcher: str) -> None:
    """Wrap the config's torch optimizer in MMEngine's ``ZeroRedundancyOptimizer``."""
    if launcher == 'none':
        raise SystemExit('--zero shards optimizer states across ranks: start several with '
                         'tools/dist_train.sh CONFIG N (or --launcher pytorch / slurm)')
    strategy = str((cfg.get('strategy') or {}).get('type', ''))
    if strategy.endswith(('FSDPStrategy', 'DeepSpeedStrategy')):
        raise SystemExit(f'--zero and strategy.type={strategy!r} both shard the optimizer '
                         'states: drop --zero (the strategy shards more: parameters and '
                         'gradients too)')
    optimizer = cfg.optim_wrapper.optimizer
    if optimizer.type == 'ZeroRedundancyOptimizer':
        return
    if not hasattr(torch.optim, optimizer.type):
        raise SystemExit(f'--zero wraps torch.optim optimizers only; optim_wrapper.optimizer.type '
                         f'is {optimizer.type!r}')
    cfg.optim_wrapper.optimizer = dict(optimizer, type='ZeroRedundancyOptimizer',
                                       optimizer_type=optimizer.type)


def use_mmbeit_fsdp(cfg: Config) -> None:
    """``strategy.type='FSDPStrategy'`` -> mmbeit's subclass (FlexibleRunner builds the strategy
    before it enters the config's default scope, so the plain name gets MMEngine's)."""
    strategy = cfg.get('strategy')
    if strategy is not None and strategy.get('type') == 'FSDPStrategy':
        strategy['type'] = 'mmbeit.FSDPStrategy'


def use_compile(cfg: Config) -> None:
    """MMEngine's ``compile`` setting -> :class:`mmbeit.CompileModelHook` (forward only)."""
    options = cfg.pop('compile', None)
    if options is None or options is False:
        return
    options = {} if options is True else dict(options)
    options.pop('target', None)  # FlexibleRunner's key; the hook compiles the forward
    cfg.setdefault('custom_hooks', []).append(dict(type='mmbeit.CompileModelHook', **options))


def refuse_contrastive_accumulation(cfg: Config) -> None:
    """MoCo v3 with ``accumulative_counts`` > 1 would contrast each micro-batch with its own
    negatives only (MMDistributedDataParallel bypasses the model's own check): refuse it and
    name ``model.micro_batch_size``, which keeps the full batch's loss."""
    counts = cfg.get('optim_wrapper', {}).get('accumulative_counts', 1) or 1
    if counts > 1 and str(cfg.get('model', {}).get('type', '')).split('.')[-1] == 'MoCoV3':
        raise ValueError(
            f'optim_wrapper.accumulative_counts={counts} with MoCo v3 changes the loss (each '
            'accumulated micro-batch sees only its own negatives); set model.micro_batch_size '
            '(e.g. --cfg-options model.micro_batch_size=64) for the full batch in less memory')


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Apply the command line to the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        use_amp(cfg)
    elif (not torch.cuda.is_available()
          and cfg.get('optim_wrapper', {}).get('type') == 'AmpOptimWrapper'):
        use_amp(cfg)  # an AMP recipe on a CPU machine: bf16 autocast instead
    use_precision(cfg, args.precision)
    if args.resume == 'auto':  # the newest checkpoint of the work dir that reads
        cfg.load_from = newest_intact_checkpoint(cfg.work_dir)
        cfg.resume = cfg.load_from is not None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})['enable'] = True
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:
            continue
        if args.no_pin_memory:
            cfg[loader]['pin_memory'] = False
        if args.no_persistent_workers:
            cfg[loader]['persistent_workers'] = False
    if not torch.cuda.is_available():
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.zero:
        use_zero(cfg, args.launcher)
    refuse_contrastive_accumulation(cfg)
    check_config(cfg, source=args.config)
    use_mmbeit_fsdp(cfg)
    use_compile(cfg)
    optimizer_type = cfg.get('optim_wrapper', {}).get('optimizer', {}).get('type', '')
    hooks = cfg.setdefault('custom_hooks', [])
    if (str(optimizer_type).endswith('ZeroRedundancyOptimizer')
            and not any(str(h.get('type')).endswith('ZeroCheckpointHook') for h in hooks)):
        hooks.append(dict(type='mmbeit.ZeroCheckpointHook'))  # rank 0 alone cannot gather
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        keep_freed_memory()  # CPU steps reuse freed blocks instead of page-faulting new ones
    cfg = merge_args(Config.fromfile(args.config), args)
    if init_cpu_process_group(args.launcher):
        cfg.setdefault('model_wrapper_cfg', dict(type='mmbeit.CPUDistributedDataParallel'))
    # one run per work dir: the first rank holds the lock (the others share its run)
    lock = (work_dir_lock(cfg.work_dir) if int(os.environ.get('RANK', '0')) == 0
            else contextlib.nullcontext())
    with lock:
        runner = (FlexibleRunner if cfg.get('strategy') else Runner).from_cfg(cfg)
        runner.train()
    close_process_group()


if __name__ == '__main__':
    main()
