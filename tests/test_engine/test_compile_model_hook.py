"""MMEngine's ``compile`` setting through tools/train.py: the forward is compiled (inductor),
the optimizer stays eager, and the BEiT v2 losses equal the eager run's."""
from __future__ import annotations

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from tests.test_tools.tool_module import load_tool

CONFIG = 'configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py'


class _Losses(Hook):
    def __init__(self) -> None:
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.losses.append(float(outputs['loss']))


def _run(train_tool, tmp_path, options):
    args = train_tool.parse_args([CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                                  'train_dataloader.batch_size=16',
                                  'train_dataloader.num_workers=0',
                                  'train_dataloader.persistent_workers=False',
                                  'default_hooks.checkpoint=None', 'log_level=WARNING',
                                  'randomness.seed=0', *options])
    cfg = train_tool.merge_args(Config.fromfile(CONFIG), args)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3)
    cfg.param_scheduler = []
    cfg.custom_hooks = [h for h in cfg.custom_hooks if 'Compile' in h['type']]
    runner = Runner.from_cfg(cfg)
    losses = _Losses()
    runner.register_hook(losses)
    runner.train()
    return cfg, runner, losses.losses


@pytest.mark.slow
def test_compiled_forward_gives_the_eager_losses(tmp_path):
    train_tool = load_tool('tools/train.py')
    _, _, eager = _run(train_tool, tmp_path / 'eager', [])
    torch._dynamo.reset()
    cfg, runner, compiled = _run(train_tool, tmp_path / 'compiled', ['compile=True'])
    assert 'compile' not in cfg  # MMEngine would compile the whole train_step and fail
    assert [h['type'] for h in cfg.custom_hooks] == ['mmbeit.CompileModelHook']
    assert hasattr(runner.model.forward, '_torchdynamo_orig_callable')  # really compiled
    assert len(compiled) == len(eager) == 3
    assert compiled == pytest.approx(eager, rel=1e-5, abs=1e-6)
    assert eager[-1] < eager[0]  # it trains
