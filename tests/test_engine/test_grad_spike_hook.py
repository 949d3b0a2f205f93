import copy
import json

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from mmbeit.engine.hooks import GradientSpikeHook
from mmbeit.engine.hooks.grad_spike_hook import layer_name


class _Data(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        return dict(inputs=torch.full((4,), float(i % 7) / 7))


class _Spiky(BaseModel):
    """Two layers; the loss is multiplied by 1000 at iteration ``spike_at``."""

    def __init__(self, spike_at: int):
        super().__init__()
        self.first = torch.nn.Linear(4, 4)
        self.rest = torch.nn.Linear(4, 1)
        self.spike_at, self.calls = spike_at, 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        loss = self.rest(torch.relu(self.first(x))).pow(2).mean()
        scale = 1000.0 if self.calls == self.spike_at else 1.0
        self.calls += 1
        return dict(loss=loss * scale)


def test_layer_names_group_blocks_and_modules():
    assert layer_name('backbone.blocks.3.attn.qkv.weight') == 'backbone.blocks.3'
    assert layer_name('backbone.patch_embed.proj.weight') == 'backbone.patch_embed.proj'


def _first_step_norms(model: _Spiky) -> dict:
    """Gradient norms of each layer on the first batch (items 0-3), computed by hand."""
    model = copy.deepcopy(model)
    model.zero_grad()
    model(torch.stack([_Data()[i]['inputs'] for i in range(4)]))['loss'].backward()
    return {name: float(torch.cat([p.grad.flatten() for p in layer.parameters()]).norm())
            for name, layer in (('first', model.first), ('rest', model.rest))}


def test_injected_spike_is_flagged_at_its_iteration(tmp_path):
    hook = GradientSpikeHook(spike_ratio=10.0, window=20, min_history=5)
    model = _Spiky(spike_at=12)
    expected = _first_step_norms(model)
    runner = Runner(
        model=model, work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_Data(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-4)),
        train_cfg=dict(by_epoch=False, max_iters=16), custom_hooks=[hook],
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=100)),
        log_level='WARNING')
    runner.train()
    # norms were read while the gradients existed (MMEngine zeroes them before after_train_iter):
    # the first step's are those of the untrained model on the first batch
    assert len(hook.history['first']) == 16
    for series in ('first', 'rest'):
        assert hook.history[series][0] == pytest.approx(expected[series], rel=1e-5), series
        assert hook.last_norms[series] == hook.history[series][-1]
    spikes = {(s['iter'], s['series']) for s in hook.spikes}
    assert spikes == {(12, 'first'), (12, 'rest')}
    assert json.loads((tmp_path / 'grad_spikes.json').read_text()) == hook.spikes


def test_logged_norms_are_the_latest_measurement_not_a_window_mean(tmp_path):
    hook = GradientSpikeHook(interval=3)
    runner = Runner(
        model=_Spiky(spike_at=-1), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_Data(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5)),
        train_cfg=dict(by_epoch=False, max_iters=12), custom_hooks=[hook],
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=100)),
        log_level='WARNING')
    runner.train()
    tag, _ = runner.log_processor.get_log_after_iter(runner, 11, 'train')
    assert tag['grad_norm/first'] == hook.last_norms['first']
    assert tag['grad_norm/rest'] == hook.last_norms['rest']
