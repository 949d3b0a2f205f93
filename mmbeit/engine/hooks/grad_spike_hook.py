"""Per-layer gradient norms and gradient-spike alarms (MoCo v3's instability shows up first in
the patch projection)."""
from __future__ import annotations

import json
import os.path as osp
import statistics
from collections import OrderedDict, deque
from typing import Deque, Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmbeit.registry import HOOKS
from mmbeit.utils.distributed import get_rank


def layer_name(param_name: str) -> str:
    """Group parameters by layer: up to the first numeric part (``backbone.blocks.3``), else
    everything but the last part (``backbone.patch_embed.proj``)."""
    parts = param_name.split('.')
    for i, part in enumerate(parts):
        if part.isdigit():
            return '.'.join(parts[:i + 1])
    return '.'.join(parts[:-1]) or param_name


@HOOKS.register_module()
class GradientSpikeHook(Hook):
    """Log per-layer gradient norms (first layer vs the rest) and flag spikes.

    Gradients are read by an optimizer step pre-hook, i.e. after ``backward`` (and after the
    optim wrapper's loss-scale unscaling, gradient accumulation and DDP averaging), right before
    ``optimizer.step``; MMEngine zeroes them before ``after_train_iter``. With ``clip_grad`` on,
    the norms are the clipped ones (MMEngine logs the unclipped total as ``grad_norm``).

    Every ``interval`` steps it computes the L2 norm of each layer's gradient; the first layer
    is the first parameter group with a gradient in model order (the patch projection when it is
    trained). It logs ``grad_norm/first`` and ``grad_norm/rest`` (message hub + visualizer;
    every layer too with ``log_per_layer``), and flags a spike when a norm exceeds
    ``spike_ratio`` times the median of its last ``window`` values (after ``min_history``
    values): a warning in the log and an entry in ``self.spikes`` and ``{work_dir}/{spike_file}``.

    Args:
        interval (int): monitor every ``interval`` optimizer steps. Defaults to 1.
        spike_ratio (float): alarm threshold over the running median. Defaults to 10.
        window (int): running-median window. Defaults to 100.
        min_history (int): values needed before alarms. Defaults to 10.
        watch (str): 'first_rest' (the two series) or 'all' (every layer). Defaults to
            'first_rest'.
        log_per_layer (bool): write every layer's norm to the visualizer. Defaults to False.
        spike_file (str): json list of spikes in the work dir. Defaults to 'grad_spikes.json'.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1, spike_ratio: float = 10.0, window: int = 100,
                 min_history: int = 10, watch: str = 'first_rest', log_per_layer: bool = False,
                 spike_file: str = 'grad_spikes.json') -> None:
        if interval < 1 or spike_ratio <= 1 or window < 1 or min_history < 1:
            raise ValueError('need interval >= 1, spike_ratio > 1, window >= 1, '
                             f'min_history >= 1; got {interval}, {spike_ratio}, {window}, '
                             f'{min_history}')
        if watch not in ('first_rest', 'all'):
            raise ValueError(f"watch must be 'first_rest' or 'all', got {watch!r}")
        self.interval, self.spike_ratio = interval, spike_ratio
        self.window, self.min_history = window, min_history
        self.watch, self.log_per_layer = watch, log_per_layer
        self.spike_file = spike_file
        self.history: Dict[str, Deque[float]] = {}
        self.last_norms: Dict[str, float] = {}
        self.spikes: List[dict] = []
        self._handle = None
        self._runner: Optional[Runner] = None
        self._layers: Dict[str, List[torch.nn.Parameter]] = OrderedDict()
        self._steps = 0

    def before_train(self, runner: Runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._layers = OrderedDict()
        for name, param in model.named_parameters():
            if param.requires_grad:
                self._layers.setdefault(layer_name(name), []).append(param)
        if not self._layers:
            raise ValueError('GradientSpikeHook: the model has no trainable parameters')
        optimizer = runner.optim_wrapper.optimizer
        self._runner = runner
        # MMEngine's LogProcessor averages every '*grad_norm*' scalar over its last
        # `window_size` updates; measured every `interval` steps that mean spans
        # window_size * interval iterations and barely moves from log to log. Log the
        # latest measurement instead.
        custom = runner.log_processor.custom_cfg
        for key in ('grad_norm/first', 'grad_norm/rest'):
            if not any(c.get('data_src') == key for c in custom):
                custom.append(dict(data_src=key, method_name='current'))
        self._handle = optimizer.register_step_pre_hook(self._on_step)

    def after_train(self, runner: Runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @torch.no_grad()
    def layer_norms(self) -> Dict[str, float]:
        """L2 gradient norm of every layer with a gradient, in model order."""
        names, sq = [], []
        for name, params in self._layers.items():
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                names.append(name)
                sq.append(torch.stack(torch._foreach_norm(grads)).float().square().sum())
        values = torch.stack(sq).sqrt().tolist() if sq else []
        return OrderedDict(zip(names, values))

    def _on_step(self, optimizer, args, kwargs) -> None:
        self._steps += 1
        if (self._steps - 1) % self.interval:
            return
        norms = self.layer_norms()
        if not norms:
            return
        first_name = next(iter(norms))
        rest = [v for k, v in norms.items() if k != first_name]
        series = OrderedDict(first=norms[first_name],
                             rest=sum(v * v for v in rest) ** 0.5)
        if self.watch == 'all':
            series.update(norms)
        self.last_norms = dict(norms, first=series['first'], rest=series['rest'])
        runner = self._runner
        # LoggerHook writes these to the log and the visualizer at its interval
        runner.message_hub.update_scalar('train/grad_norm/first', series['first'])
        runner.message_hub.update_scalar('train/grad_norm/rest', series['rest'])
        if self.log_per_layer:
            runner.visualizer.add_scalars({f'grad_norm/{k}': v for k, v in norms.items()},
                                          step=runner.iter)
        for key, value in series.items():
            past = self.history.setdefault(key, deque(maxlen=self.window))
            if len(past) >= self.min_history:
                median = statistics.median(past)
                if median > 0 and value > self.spike_ratio * median:
                    self._flag(runner, key, first_name if key == 'first' else key, value,
                               median)
            past.append(value)

    def _flag(self, runner: Runner, series: str, layer: str, value: float,
              median: float) -> None:
        spike = dict(iter=runner.iter, series=series, layer=layer, norm=value, median=median,
                     ratio=value / median)
        self.spikes.append(spike)
        runner.logger.warning(f'gradient spike at iter {runner.iter}: {series} ({layer}) grad '
                              f'norm {value:.4g} = {value / median:.1f} x running median '
                              f'{median:.4g}')
        if get_rank() == 0:
            with open(osp.join(runner.work_dir, self.spike_file), 'w') as f:
                json.dump(self.spikes, f, indent=1)
