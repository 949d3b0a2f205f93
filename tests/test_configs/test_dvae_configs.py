"""Every dVAE config builds its model, optimizer and pipeline and runs 2 training steps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from PIL import Image

from mmbeit.registry import MODELS


@pytest.fixture
def one_thread():
    """Small convs: 2 OpenMP threads on a busy 2-core machine run several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CONFIGS = sorted(str(p) for p in Path('configs').rglob('dvae_*.py'))


def test_dvae_configs_exist():
    assert any('in1k' in c for c in CONFIGS) and any('digits' in c for c in CONFIGS)


@pytest.mark.parametrize('config', CONFIGS, ids=lambda c: Path(c).stem)
def test_dvae_config_builds_and_trains_two_iterations(config, tmp_path, one_thread):
    cfg = Config.fromfile(config)
    init_default_scope('mmbeit')
    # the pipeline turns an RGB file into an image the tokenizer grid divides
    image_file = tmp_path / 'img.png'
    Image.fromarray(np.random.RandomState(0).randint(0, 255, (300, 280, 3), np.uint8)).save(
        image_file)
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    packed = pipeline(dict(img_path=str(image_file)))

    model = MODELS.build(cfg.model)
    f = model.tokenizer.downsample
    assert packed['inputs'].shape[-1] % f == 0 and packed['inputs'].shape[-2] % f == 0
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    gen = torch.Generator().manual_seed(0)
    data = dict(inputs=list(torch.randint(0, 256, (2, 3, 16, 16), generator=gen,
                                          dtype=torch.uint8)), data_samples=None)
    w0 = model.tokenizer.encoder.blocks.input.w.detach().clone()
    for _ in range(2):
        log = model.train_step(data, optim_wrapper)
        assert all(torch.isfinite(v) for v in log.values()), log
    assert not torch.equal(w0, model.tokenizer.encoder.blocks.input.w)
    # the release's size on ImageNet (8192 codes, 256 px -> 32 x 32), a tiny one on the digits
    # (the step size is cosine over the first 1.2M of 3M updates there, all 600 here)
    num_tokens, downsample, iters, cosine_iters = (
        (64, 4, 600, 600) if 'digits' in config else (8192, 8, 3000000, 1200000))
    assert model.tokenizer.num_tokens == cfg.model.tokenizer.encoder.num_tokens == num_tokens
    assert f == downsample and cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=iters)
    (cosine, ) = cfg.param_scheduler
    assert (cosine.type, cosine.by_epoch, cosine.begin, cosine.end) == (
        'CosineAnnealingLR', False, 0, cosine_iters)
