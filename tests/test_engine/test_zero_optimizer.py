"""ZeRO-1 sharded optimizer states (MMEngine's ``ZeroRedundancyOptimizer``) on 2 CPU ranks:
the same weights as one process on the concatenated batch, and an exact resume from the
consolidated checkpoint through mmbeit's safe loader."""
from __future__ import annotations

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from torch import nn

from mmbeit.models.backbones import BEiTViT
from mmbeit.utils import load_checkpoint
from tests.dist_utils import run_distributed

pytestmark = pytest.mark.dist

# fp32 all-reduce order differs from one process: AdamW normalises, so allow 1e-5
OPTIM = dict(type='AdamW', lr=1e-2, betas=(0.9, 0.98), weight_decay=0.05)
BATCH = 8


def build_model() -> nn.Module:
    torch.manual_seed(0)
    model = BEiTViT(arch=dict(embed_dims=32, num_layers=2, num_heads=4), img_size=16,
                    patch_size=4, out_type='avg_featmap', layer_scale_init_value=0.1)
    model.init_weights()
    return model


def batch(step: int) -> torch.Tensor:
    return torch.randn(BATCH, 3, 16, 16, generator=torch.Generator().manual_seed(100 + step))


def train(model: nn.Module, wrapper, steps: range, rank: int = 0, world: int = 1) -> None:
    for s in steps:
        x = batch(s).chunk(world)[rank]  # each rank its slice of the global batch
        loss = model(x)[0].square().mean()
        wrapper.update_params(loss)


def zero_worker(rank: int, world: int, ckpt: str) -> dict:
    model = build_model()
    ddp = nn.parallel.DistributedDataParallel(model)
    cfg = dict(optimizer=dict(OPTIM, type='ZeroRedundancyOptimizer', optimizer_type='AdamW'))
    wrapper = build_optim_wrapper(ddp, cfg)
    train(ddp, wrapper, range(3), rank, world)
    state = wrapper.state_dict()  # consolidated on rank 0, empty elsewhere
    local_states = len(wrapper.optimizer.optim.state)  # this rank's shard of AdamW states
    if rank == 0:
        torch.save(dict(optimizer=state), ckpt)
    torch.distributed.barrier()
    # resume: a fresh model and optimizer, weights and optimizer state from the checkpoint
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    resumed = build_model()
    resumed.load_state_dict(weights)
    ddp2 = nn.parallel.DistributedDataParallel(resumed)
    wrapper2 = build_optim_wrapper(ddp2, cfg)
    wrapper2.load_state_dict(load_checkpoint(ckpt)['optimizer'])
    train(ddp2, wrapper2, range(3, 5), rank, world)
    return dict(after3=weights, after5=resumed.state_dict(), local_states=local_states)


def test_zero_two_ranks_equal_one_process_and_resume_exactly(tmp_path):
    ranks = run_distributed(zero_worker, 2, tmp_path, str(tmp_path / 'optim.pth'))
    reference = build_model()
    wrapper = build_optim_wrapper(reference, dict(optimizer=OPTIM))
    train(reference, wrapper, range(3))
    after3 = {k: v.clone() for k, v in reference.state_dict().items()}
    train(reference, wrapper, range(3, 5))
    n_params = sum(1 for p in reference.parameters() if p.requires_grad)
    # states are sharded: each rank keeps only part of them, together all of them
    assert all(0 < r['local_states'] < n_params for r in ranks)
    assert sum(r['local_states'] for r in ranks) == n_params
    for key, value in reference.state_dict().items():
        for r in ranks:
            torch.testing.assert_close(r['after3'][key], after3[key], rtol=1e-4, atol=1e-5,
                                       msg=lambda m, k=key: f'{k} after 3 steps: {m}')
            torch.testing.assert_close(r['after5'][key], value, rtol=1e-4, atol=1e-5,
                                       msg=lambda m, k=key: f'{k} after resuming for 2 steps: {m}')
    assert not torch.allclose(after3['blocks.0.attn.qkv.weight'],
                              build_model().state_dict()['blocks.0.attn.qkv.weight'])
    # rank 0's consolidated checkpoint holds every parameter's AdamW state, 3 steps in
    saved = load_checkpoint(str(tmp_path / 'optim.pth'))['optimizer']['state']
    assert len(saved) == n_params
    assert all(int(s['step']) == 3 for s in saved.values())
