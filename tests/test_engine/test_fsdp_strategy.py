"""FSDP through mmbeit's ``FSDPStrategy`` on 2 CPU ranks: a BEiT v2 model with a frozen VQ-KD
tokenizer (kept whole), clipped gradients, weight-decay groups by shape, one FSDP unit per
block. The same weights as one process on the concatenated batch, and an exact resume from
consolidated and from per-rank checkpoints."""
from __future__ import annotations

import copy
import os.path as osp

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmbeit.registry import MODELS, STRATEGIES
from tests.dist_utils import run_distributed

pytestmark = pytest.mark.dist

GRID, BATCH, MASKED = 4, 4, 6  # 16 px / patch 4; every image masks 6 of 16 cells
# max_norm far below the gradient norm (~4): every step clips, so the clip factor matters
OPTIM = dict(optimizer=dict(type='AdamW', lr=1e-2, betas=(0.9, 0.98), weight_decay=0.05),
             clip_grad=dict(max_norm=0.05), paramwise_cfg=dict(flat_decay_mult=0.0))
MODEL = dict(
    type='BEiTV2',
    backbone=dict(type='BEiTViT', arch=dict(embed_dims=16, num_layers=3, num_heads=2),
                  img_size=16, patch_size=4, with_mask_token=True, final_norm=False,
                  out_indices=[1, 2], layer_scale_init_value=0.1),
    neck=dict(type='PatchAggregationNeck', embed_dims=16, num_heads=2, num_layers=1,
              early_layers=2),
    head=dict(type='BEiTV2Head', embed_dims=16, num_tokens=32),
    target_generator=dict(type='VQKDTokenizer', num_tokens=32, code_dims=8, decoder=None,
                          encoder=dict(arch=dict(embed_dims=16, num_layers=2, num_heads=2),
                                       img_size=8, patch_size=2)),
    data_preprocessor=dict(type='TwoNormDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3,
                           second_mean=[0.0] * 3, second_std=[255.0] * 3, to_rgb=False))


def build_model(with_cp: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = copy.deepcopy(MODEL)
    cfg['backbone']['with_cp'] = with_cp
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def batch(step: int, rank: int = 0, world: int = 1) -> dict:
    """This rank's slice of the global batch of ``step``: two views and same-count masks."""
    g = torch.Generator().manual_seed(100 + step)
    view1 = torch.rand(BATCH, 3, 16, 16, generator=g) * 255
    view2 = torch.rand(BATCH, 3, 8, 8, generator=g) * 255
    samples = []
    for _ in range(BATCH):
        mask = torch.zeros(GRID * GRID, dtype=torch.bool)
        mask[torch.randperm(GRID * GRID, generator=g)[:MASKED]] = True
        samples.append(DataSample().set_mask(mask.view(GRID, GRID)))
    part = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    return dict(inputs=[view1[part], view2[part]], data_samples=samples[part])


def train(model, wrapper, steps: range, rank: int = 0, world: int = 1) -> list:
    return [float(model.train_step(batch(s, rank, world), wrapper)['loss'])
            for s in steps]


def fsdp_worker(rank: int, world: int, work_dir: str, state_dict_cfg: str,
                with_cp: bool) -> dict:
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    import mmbeit.engine  # noqa: F401  (the weights-only loader that resume goes through)

    def prepare():
        strategy = STRATEGIES.build(dict(type='mmbeit.FSDPStrategy', state_dict_cfg=state_dict_cfg))
        model, wrapper = strategy.prepare(
            build_model(with_cp), optim_wrapper=copy.deepcopy(OPTIM),
            dispatch_kwargs=dict(init_weights_for_test_or_val=False))
        return strategy, model, wrapper

    strategy, model, wrapper = prepare()
    units = sum(1 for m in model.modules() if isinstance(m, FSDP))
    # the frozen tokenizer is not sharded: its weights keep their shapes outside forward
    tokenizer_shape = tuple(model.module.target_generator.encoder.blocks[0].attn.qkv.weight.shape)
    losses = train(model, wrapper, range(3), rank, world)
    grad_norm = wrapper.message_hub.get_scalar('train/grad_norm').current()
    wrapper.base_param_settings['lr'] = 0.0123  # as a scheduler leaves it
    ckpt = osp.join(work_dir, f'{state_dict_cfg}.pth')
    strategy.save_checkpoint(ckpt, extra_ckpt=dict(meta=dict(epoch=0, iter=3)))  # as the runner
    torch.distributed.barrier()
    # resume into a fresh strategy, model and optimizer, then 2 more steps
    strategy2, model2, wrapper2 = prepare()
    strategy2.resume(ckpt)
    base_lr = wrapper2.base_param_settings['lr']
    losses += train(model2, wrapper2, range(3, 5), rank, world)
    strategy2.save_checkpoint(osp.join(work_dir, 'final.pth'))
    torch.distributed.barrier()
    with FSDP.state_dict_type(model2, StateDictType.FULL_STATE_DICT,
                              FullStateDictConfig(offload_to_cpu=False, rank0_only=False)):
        weights = {k: v.clone() for k, v in model2.state_dict().items()}
    return dict(losses=losses, grad_norm=grad_norm, units=units, weights=weights,
                tokenizer_shape=tokenizer_shape, base_lr=base_lr)


@pytest.fixture(scope='module')
def reference():
    """One process, the whole batch: losses of 5 steps, weights after them, last grad norm."""
    model = build_model()
    wrapper = build_optim_wrapper(model, copy.deepcopy(OPTIM))
    losses = train(model, wrapper, range(3))
    grad_norm = wrapper.message_hub.get_scalar('train/grad_norm').current()
    losses += train(model, wrapper, range(3, 5))
    return dict(losses=losses, grad_norm=grad_norm, state=model.state_dict())


@pytest.mark.parametrize('state_dict_cfg,with_cp', [('full', False), ('local', False),
                                                    ('full', True)],
                         ids=['full', 'local', 'full-with_cp'])
def test_fsdp_two_ranks_equal_one_process_and_resume_exactly(tmp_path, reference, state_dict_cfg,
                                                            with_cp):
    """3 steps, a checkpoint, a fresh strategy resumed from it, 2 more steps: the losses and
    weights of one process on the whole batch. With ``with_cp`` each block's forward (an FSDP
    unit, its all-gather included) runs again in the backward pass."""
    from mmbeit.utils import load_checkpoint

    ranks = run_distributed(fsdp_worker, 2, tmp_path, str(tmp_path), state_dict_cfg, with_cp)
    assert reference['grad_norm'] > 10 * OPTIM['clip_grad']['max_norm']  # clipping is active
    for r in ranks:
        assert r['units'] == 1 + 3 + 1  # the root, each backbone and neck block
        assert r['tokenizer_shape'] == (3 * 16, 16)
        assert r['base_lr'] == 0.0123  # the logged base lr survives the resume
        # the logged norm is the model's, not this rank's slice of it
        assert r['grad_norm'] == pytest.approx(reference['grad_norm'], rel=1e-4)
    # each rank's loss is the mean over its half; the global mean is the average of the two
    losses = [sum(pair) / 2 for pair in zip(ranks[0]['losses'], ranks[1]['losses'])]
    assert losses == pytest.approx(reference['losses'], rel=1e-4)
    if state_dict_cfg == 'full':  # one plain file, as a DDP run writes
        saved = [load_checkpoint(str(tmp_path / 'final.pth'))['state_dict']]
    else:  # a folder of shards
        assert sorted(p.name for p in (tmp_path / 'final.pth').iterdir()) == ['rank0.pth',
                                                                              'rank1.pth']
        saved = []
    for final in saved + [r['weights'] for r in ranks]:
        assert final.keys() == reference['state'].keys()
        for key, value in reference['state'].items():
            torch.testing.assert_close(final[key], value, rtol=1e-4, atol=1e-5,
                                       msg=lambda m, k=key: f'{k} after 3 + 2 resumed steps: {m}')
    initial = build_model().state_dict()
    assert not torch.allclose(final['backbone.blocks.0.attn.qkv.weight'],
                              initial['backbone.blocks.0.attn.qkv.weight'])
    assert torch.equal(final['target_generator.encoder.blocks.0.attn.qkv.weight'],
                       initial['target_generator.encoder.blocks.0.attn.qkv.weight'])  # frozen


def test_fsdp_strategy_defaults_to_consolidated_checkpoints_and_cpu_device():
    from torch.distributed.fsdp import StateDictType

    strategy = STRATEGIES.build(dict(type='FSDPStrategy'))  # plain name, mmbeit scope
    assert type(strategy).__module__ == 'mmbeit.engine.runner.fsdp_strategy'
    assert strategy.state_dict_type == StateDictType.FULL_STATE_DICT
    if not torch.cuda.is_available():
        assert strategy.model_wrapper['device_id'] == 'cpu'


def test_fsdp_strategy_refuses_a_momentum_encoder_and_says_what_to_use():
    from tests.test_models.test_algorithms.test_mocov3 import tiny_model_cfg

    strategy = STRATEGIES.build(dict(type='FSDPStrategy'))
    with pytest.raises(NotImplementedError, match=r'MoCoV3 .*momentum.*DDP.*--zero'):
        strategy._wrap_model(MODELS.build(tiny_model_cfg()))
