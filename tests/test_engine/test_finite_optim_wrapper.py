"""The divergence guard's skip: a step with non-finite gradients changes no weight, optimizer
state, codebook or target centre; every rank skips together; mmbeit's ``OptimWrapper`` is it;
skipped steps count towards the run's stop."""
from __future__ import annotations

import copy

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from torch import nn

from mmbeit.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook, DivergedError
from mmbeit.engine.optimizers import AutocastOptimWrapper, FiniteOptimWrapper, grads_finite
from mmbeit.engine.optimizers.finite_optim_wrapper import SKIPS_INFO
from mmbeit.models.tokenizers.quantizer import NormEMAQuantizer
from mmbeit.registry import OPTIM_WRAPPERS
from tests.dist_utils import run_distributed


def _wrapper(model: nn.Module, **kwargs) -> FiniteOptimWrapper:
    return FiniteOptimWrapper(optimizer=torch.optim.AdamW(model.parameters(), lr=0.1),
                              **kwargs)


def _nan_grad_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A finite loss (0) whose gradient is NaN: d sqrt(u) / du at u = 0 is inf, times 0."""
    return (model(x) * 0).pow(2).sum().sqrt()


def _state(model: nn.Module, wrapper: OptimWrapper) -> dict:
    return copy.deepcopy(dict(model=model.state_dict(), optim=wrapper.state_dict()))


def _assert_same(a: dict, b: dict) -> None:
    for key, value in a['model'].items():
        assert torch.equal(value, b['model'][key]), key
    for index, state in a['optim']['state'].items():
        for name, value in state.items():
            assert torch.equal(value, b['optim']['state'][index][name]), (index, name)


@pytest.mark.parametrize('clip', [None, dict(max_norm=1.0)])
def test_a_nonfinite_step_is_skipped_and_a_finite_one_taken(clip):
    MessageHub.get_current_instance().update_info(SKIPS_INFO, 0)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    wrapper = _wrapper(model, clip_grad=clip)
    x = torch.randn(8, 4)
    wrapper.update_params(model(x).square().mean())  # AdamW state exists from here on
    before = _state(model, wrapper)
    loss = _nan_grad_loss(model, x)
    assert torch.isfinite(loss)
    wrapper.update_params(loss)
    _assert_same(_state(model, wrapper), before)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())  # dropped
    assert MessageHub.get_current_instance().get_info(SKIPS_INFO) == 1
    wrapper.update_params(model(x).square().mean())
    assert not torch.equal(model.weight, before['model']['weight'])
    assert MessageHub.get_current_instance().get_info(SKIPS_INFO) == 1


def test_the_check_can_be_turned_off_and_is_what_the_scope_builds():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    off = _wrapper(model, skip_nonfinite=False)
    off.update_params(_nan_grad_loss(model, torch.randn(2, 4)))
    assert torch.isnan(model.weight).all()  # without the guard the weights are lost
    init_default_scope('mmbeit')
    built = OPTIM_WRAPPERS.build(dict(type='OptimWrapper', optimizer=torch.optim.SGD(
        nn.Linear(2, 2).parameters(), lr=0.1)))
    assert type(built) is FiniteOptimWrapper and built.skip_nonfinite
    assert issubclass(AutocastOptimWrapper, FiniteOptimWrapper)


def test_grads_finite_sees_one_nan_or_inf_entry_in_any_dtype():
    params = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2, dtype=torch.bfloat16)),
              nn.Parameter(torch.zeros(1))]
    for p in params:
        p.grad = torch.ones_like(p)
    params[2].grad = None
    assert grads_finite(params)
    params[1].grad[1] = float('inf')
    assert not grads_finite(params)
    params[1].grad[1] = 0
    params[0].grad[0] = float('nan')
    assert not grads_finite(params)


def _rank_step(rank: int, world_size: int) -> dict:
    """Each rank holds its own shard's gradients (as FSDP / ZeRO do); only rank 1's are NaN."""
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    wrapper = _wrapper(model)
    before = model.weight.detach().clone()
    model(torch.randn(2, 4)).sum().backward()
    if rank == 1:
        model.weight.grad[0, 0] = float('nan')
    wrapper.step()
    return dict(changed=not torch.equal(model.weight, before))


def test_every_rank_skips_when_one_ranks_gradients_are_not_finite(tmp_path):
    assert [r['changed'] for r in run_distributed(_rank_step, 2, tmp_path)] == [False, False]


def test_a_nonfinite_batch_leaves_the_codebook_as_it_was():
    torch.manual_seed(0)
    quantizer = NormEMAQuantizer(num_tokens=16, dims=4, kmeans_init=False).train()
    quantizer(torch.randn(32, 4))
    before = copy.deepcopy(quantizer.state_dict())
    z = torch.randn(32, 4)
    z[3, 1] = float('nan')
    quantizer(z)
    for key, value in quantizer.state_dict().items():
        assert torch.equal(value, before[key]), key
    quantizer(torch.randn(32, 4))
    assert int(quantizer.num_updates) == int(before['num_updates']) + 1


class _Runner:
    """What the hook's non-finite path reads of a runner."""

    def __init__(self):
        import logging

        self.message_hub = MessageHub.get_current_instance()
        self.logger = logging.getLogger('test_finite_optim_wrapper')
        self.iter = 0


def test_skipped_steps_count_towards_the_stop_and_a_finite_step_resets_it():
    runner = _Runner()
    hub = runner.message_hub
    hub.update_info(SKIPS_INFO, 5)  # skips of a resumed run's past do not count
    hook = AtomicCheckpointHook(interval=1000, max_nonfinite_iters=3)
    hook._skips_seen = hub.get_info(SKIPS_INFO)
    finite = dict(loss=torch.tensor(1.0))
    for step in range(2):
        hub.update_info(SKIPS_INFO, 6 + step)
        hook.after_train_iter(runner, step, outputs=finite)
    assert hook._nonfinite_streak == 2
    hook.after_train_iter(runner, 2, outputs=finite)  # a taken step
    assert hook._nonfinite_streak == 0
    for step in range(3):
        hub.update_info(SKIPS_INFO, 8 + step)
        if step < 2:
            hook.after_train_iter(runner, 3 + step, outputs=finite)
    with pytest.raises(DivergedError, match=r'3 iterations in a row.*non-finite gradients'):
        hook.after_train_iter(runner, 5, outputs=finite)


def test_a_nonfinite_teacher_batch_leaves_the_target_centre_as_it_was():
    from types import SimpleNamespace

    from mmbeit.models.algorithms.vqkd import VQKD
    state = SimpleNamespace(target_center=torch.ones(3), target_center_momentum=0.9,
                            target_center_ready=torch.ones((), dtype=torch.bool))
    target = torch.zeros(2, 4, 3)
    target[1, 2, 0] = float('nan')
    VQKD._update_center(state, target)
    assert torch.equal(state.target_center[0], torch.tensor(1.0))
    assert torch.allclose(state.target_center[1:], torch.full((2,), 0.9))
