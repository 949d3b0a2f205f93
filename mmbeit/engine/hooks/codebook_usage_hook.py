"""Log codebook usage, perplexity and dead-code restarts while a VQ-KD tokenizer trains."""
from __future__ import annotations

import json
import os
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmbeit.registry import HOOKS
from mmbeit.utils.distributed import get_rank

from ...models.tokenizers.quantizer import NormEMAQuantizer


def find_quantizer(model) -> NormEMAQuantizer:
    """The (single) :class:`NormEMAQuantizer` inside ``model``."""
    if is_model_wrapper(model):
        model = model.module
    found = [m for m in model.modules() if isinstance(m, NormEMAQuantizer)]
    if len(found) != 1:
        raise ValueError(f'CodebookUsageHook needs exactly one NormEMAQuantizer in the model, '
                         f'found {len(found)}')
    return found[0]


# message-hub scalars (``train/`` + name); usage in % of the codebook, as in the json's 'usage'
SCALARS = ('codebook_usage_pct', 'codebook_used', 'codebook_perplexity', 'codebook_restarts')


@HOOKS.register_module()
class CodebookUsageHook(Hook):
    """Every ``interval`` training iterations: usage of the codebook over that window.

    Logs ``codebook_usage_pct`` (% of codes used in the window), ``codebook_used``,
    ``codebook_perplexity`` and ``codebook_restarts`` (cumulative) through the message hub,
    appends the point to ``{work_dir}/{filename}`` (a JSON list, the curve that
    ``tools/analysis_tools/plot_codebook_usage.py`` plots) and starts a new window. The
    quantizer's counts are all-reduced over ranks, so the figures are global.

    Args:
        interval (int): window length in iterations. Defaults to 100.
        filename (str): Defaults to 'codebook_usage.json'.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 100, filename: str = 'codebook_usage.json') -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        self.interval = interval
        self.filename = filename
        self.curve: List[dict] = []
        self._window_start = 0

    def _path(self, runner) -> str:
        return os.path.join(runner.work_dir, self.filename)

    def before_train(self, runner) -> None:
        # the log shows each window's value as the json has it, not MMEngine's running mean
        # over the last `window_size` updates (which mixes windows long past)
        log_processor = getattr(runner, 'log_processor', None)
        if log_processor is not None:
            custom = log_processor.custom_cfg
            for key in SCALARS:
                if not any(c.get('data_src') == key for c in custom):
                    custom.append(dict(data_src=key, method_name='current'))
        path = self._path(runner)
        if os.path.isfile(path):  # resumed: keep the earlier points
            with open(path) as f:
                self.curve = [p for p in json.load(f) if p['iter'] <= runner.iter]
        self._window_start = runner.iter
        find_quantizer(runner.model).reset_usage()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._record(runner, runner.iter + 1)  # runner.iter counts this one after hooks

    def after_train(self, runner) -> None:
        if runner.iter > self._window_start:
            self._record(runner, runner.iter)

    def _record(self, runner, done: int) -> None:
        quantizer = find_quantizer(runner.model)
        stats = quantizer.usage_stats()
        point = dict(iter=done, epoch=runner.epoch, window=done - self._window_start,
                     usage=100.0 * stats['usage'],
                     used_codes=stats['used_codes'], num_codes=quantizer.num_tokens,
                     perplexity=stats['perplexity'], restarts=stats['restarts'])
        hub = runner.message_hub
        hub.update_scalar('train/codebook_usage_pct', point['usage'])
        hub.update_scalar('train/codebook_used', float(point['used_codes']))
        hub.update_scalar('train/codebook_perplexity', point['perplexity'])
        hub.update_scalar('train/codebook_restarts', float(point['restarts']))
        self.curve.append(point)
        if get_rank() == 0:
            os.makedirs(runner.work_dir, exist_ok=True)
            with open(self._path(runner), 'w') as f:
                json.dump(self.curve, f, indent=1)
        quantizer.reset_usage()
        self._window_start = done
