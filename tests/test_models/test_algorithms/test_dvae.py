"""DVAE training: annealing schedules, resumable iteration, KL to uniform, loss, learning."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from mmbeit.models.algorithms.dvae import DVAE, AnnealSchedule
from mmbeit.models.losses import kl_to_uniform, logit_laplace_nll

TINY_TOKENIZER = dict(type='DALLEdVAE',
                      encoder=dict(group_count=2, n_hid=16, n_blk_per_group=1, num_tokens=16),
                      decoder=dict(n_init=16, n_hid=16, n_blk_per_group=1))


def test_anneal_schedules_follow_their_formulas():
    cos = AnnealSchedule(1.0, 1 / 16, 100, 'cosine')
    assert cos(0) == 1.0 and cos(100) == pytest.approx(1 / 16) and cos(10 ** 6) == cos(100)
    assert cos(30) == pytest.approx(1 / 16 + (1 - 1 / 16) * (1 + math.cos(math.pi * 0.3)) / 2)
    exp = AnnealSchedule(1.0, 1 / 16, 100, 'exp')
    assert exp(50) == pytest.approx(0.25)  # geometric midpoint of 1 and 1/16
    lin = AnnealSchedule(0.0, 6.6, 5000, 'linear')
    assert lin(1250) == pytest.approx(1.65) and lin(-3) == 0.0
    with pytest.raises(ValueError, match='exp'):
        AnnealSchedule(0.0, 6.6, 10, 'exp')


def test_kl_to_uniform_is_zero_for_uniform_and_log_v_for_one_hot():
    logits = torch.zeros(2, 8, 3, 3)
    assert torch.allclose(kl_to_uniform(logits), torch.zeros(2, 3, 3), atol=1e-6)
    peaked = torch.full((1, 8, 1, 1), -1e4)
    peaked[:, 2] = 0
    assert kl_to_uniform(peaked).item() == pytest.approx(math.log(8), abs=1e-4)


def _loss(model, images):
    return model(model.data_preprocessor(dict(inputs=list(images), data_samples=None),
                                         True)['inputs'], mode='loss')


def test_schedules_follow_the_runner_iteration_also_after_resume():
    model = DVAE(TINY_TOKENIZER, temperature=dict(total_iters=200),
                 kl_weight=dict(total_iters=50, mode='linear'))
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    hub = MessageHub.get_instance('test_dvae_schedules')
    hub.update_info('iter', 137)  # e.g. restored by --resume
    with torch.no_grad():
        out = _loss(model, images)
    expected_tau = 1 / 16 + (1 - 1 / 16) * (1 + math.cos(math.pi * 137 / 200)) / 2
    assert out['temperature'].item() == pytest.approx(expected_tau, rel=1e-6)
    assert out['kl_weight'].item() == pytest.approx(6.6, rel=1e-6)
    assert int(model.num_updates) == 138
    hub.update_info('iter', 10)
    with torch.no_grad():
        assert _loss(model, images)['kl_weight'].item() == pytest.approx(6.6 * 10 / 50)


def test_loss_is_nll_plus_weighted_kl_per_dimension_and_trains_both_halves():
    torch.manual_seed(0)
    model = DVAE(TINY_TOKENIZER, kl_weight=dict(start=2.0, end=2.0))
    MessageHub.get_instance('test_dvae_loss').update_info('iter', 0)
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    torch.manual_seed(1)  # the gumbel noise
    out = _loss(model, images)
    assert set(out) == {'loss_rec', 'loss_kl', 'kl', 'temperature', 'kl_weight', 'rec_mse'}
    # loss_kl = beta * KL summed over the 8x8 cells / (3 * 16 * 16) dims
    x = images.float().flip(1) / 255 * 0.8 + 0.1  # to_rgb flips BGR -> RGB
    logits = model.tokenizer.encoder(x)
    expected_kl = 2.0 * kl_to_uniform(logits).sum((1, 2)).mean() / (3 * 16 * 16)
    assert out['loss_kl'].item() == pytest.approx(expected_kl.item(), rel=1e-4)
    # loss_rec = logit-Laplace NLL of the mapped pixels under the decoder's statistics for the
    # relaxed codes of the same gumbel noise (temperature 1 at iteration 0)
    torch.manual_seed(1)
    codes = torch.nn.functional.gumbel_softmax(logits, tau=1.0, hard=False, dim=1)
    stats = model.tokenizer.decoder(codes)
    expected_rec = logit_laplace_nll(x, stats[:, :3], stats[:, 3:])  # x: mapped pixels
    assert out['loss_rec'].ndim == 0
    assert out['loss_rec'].item() == pytest.approx(expected_rec.item(), rel=1e-4)
    (out['loss_rec'] + out['loss_kl']).backward()
    for part in (model.tokenizer.encoder, model.tokenizer.decoder):
        assert part.blocks.input.w.grad is not None and part.blocks.input.w.grad.abs().sum() > 0


def _val_images(n: int = 64) -> torch.Tensor:
    from mmbeit.datasets import DigitsDataset
    ds = DigitsDataset(data_root='data/digits', split='val',
                       pipeline=[dict(type='LoadImageFromFile')])
    imgs = [ds[i]['img'][..., ::-1].copy() for i in range(n)]  # BGR -> RGB
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255


@pytest.mark.slow
def test_tiny_dvae_trained_on_digits_reconstructs_better(digits_root, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile('configs/beit/dvae_dalle-tiny-64_1xb64-600iter_digits.py')
    iters = 60
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_iters = iters
    cfg.train_dataloader.batch_size = 32
    cfg.param_scheduler[0].end = iters
    cfg.model.temperature.total_iters = iters // 2
    cfg.model.kl_weight.total_iters = iters // 4
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=10 ** 6,
                                        save_last=False)
    cfg.default_hooks.logger.interval = 20
    runner = Runner.from_cfg(cfg)
    images = _val_images()

    def val_mse() -> float:
        runner.model.eval()
        mse = ((runner.model.reconstruct(images) - images) ** 2).mean().item()
        runner.model.train()
        return mse

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs: 2 OpenMP threads on a busy 2-core box run ~10x slower
    try:
        before = val_mse()
        runner.train()
        after = val_mse()
    finally:
        torch.set_num_threads(threads)
    assert after < 0.5 * before, (before, after)
