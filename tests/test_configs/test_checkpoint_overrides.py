"""Tokenizer / teacher checkpoints: a child config's path reaches the model; clear errors."""
from pathlib import Path

import pytest
from mmengine.config import Config

import mmbeit  # noqa: F401
from mmbeit.registry import MODELS

REPO = Path(__file__).resolve().parents[2]


def _child(tmp_path: Path, base: str, body: str) -> Config:
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{REPO / base}']\n{body}\n")
    return Config.fromfile(str(child))


def test_no_config_offers_a_checkpoint_variable_that_children_cannot_override():
    # a top-level `tokenizer_checkpoint = ...` is read when its file is: a child's new value
    # would never reach the model dict, so no config may suggest setting one
    offenders = [str(p.relative_to(REPO)) for p in (REPO / 'configs').rglob('*.py')
                 if 'tokenizer_checkpoint' in p.read_text() or
                 'teacher_checkpoint' in p.read_text()]
    assert offenders == []


@pytest.mark.parametrize('base,override,key', [
    ('configs/beitv2/beitv2_vit-base-p16_16xb128-amp-coslr-300e_in1k.py',
     "model = dict(target_generator=dict(init_cfg=dict(checkpoint='{}')))",
     ('target_generator', 'init_cfg', 'checkpoint')),
    ('configs/beit/beit_vit-base-p16_16xb128-amp-coslr-300e_in1k.py',
     "model = dict(target_generator=dict(init_cfg=dict(checkpoint='{}')))",
     ('target_generator', 'init_cfg', 'checkpoint')),
    ('configs/vqkd/vqkd_vit-base-p16_8xb64-clip-100e_in1k.py',
     "model = dict(teacher=dict(checkpoint='{}'))", ('teacher', 'checkpoint')),
    ('configs/vqkd/vqkd_vit-base-p16_8xb64-dino-100e_in1k.py',
     "model = dict(teacher=dict(checkpoint='{}'))", ('teacher', 'checkpoint')),
])
def test_child_config_checkpoint_reaches_the_model_dict(tmp_path, base, override, key):
    path = str(tmp_path / 'mine.pth')
    node = _child(tmp_path, base, override.format(path)).model
    for k in key:
        node = node[k]
    assert node == path


def test_beit_v1_recipe_names_the_converted_dalle_state_dict():
    cfg = Config.fromfile(
        str(REPO / 'configs/beit/beit_vit-base-p16_16xb128-amp-coslr-800e_in1k.py'))
    assert cfg.model.target_generator.init_cfg.checkpoint == 'checkpoints/dalle_encoder.pth'


@pytest.mark.parametrize('name', ['encoder.pth', 'encoder.pkl'])
def test_missing_dalle_checkpoint_says_does_not_exist_and_how_to_convert(tmp_path, name):
    # the child's path reaches the built tokenizer: init_weights fails on exactly that file
    path = tmp_path / name
    cfg = _child(tmp_path, 'configs/beit/beit_vit-base-p16_16xb128-amp-coslr-300e_in1k.py',
                 f"model = dict(target_generator=dict(init_cfg=dict(checkpoint='{path}')))")
    tokenizer_cfg = dict(cfg.model.target_generator,
                         encoder=dict(group_count=1, n_hid=8, n_blk_per_group=1))
    tokenizer = MODELS.build(tokenizer_cfg)
    with pytest.raises(FileNotFoundError) as err:
        tokenizer.init_weights()
    msg = str(err.value)
    assert f'{path} does not exist' in msg
    assert "torch.load('encoder.pkl', weights_only=False).state_dict()" in msg  # README's
    assert 'looks like a pickled' not in msg


def test_loaded_tokenizer_checkpoint_is_named_in_the_log(tmp_path):
    import logging

    import torch
    from mmengine.logging import MMLogger

    small = dict(type='DALLEdVAE', with_decoder=False,
                 encoder=dict(group_count=1, n_hid=8, n_blk_per_group=1, num_tokens=16))
    path = tmp_path / 'dalle_encoder.pth'
    torch.save(MODELS.build(small).encoder.state_dict(), path)
    tokenizer = MODELS.build(dict(small, init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        tokenizer.init_weights()
    finally:
        logger.removeHandler(handler)
    lines = [r.getMessage() for r in records]
    assert any(str(path) in line and 'loaded' in line for line in lines), lines
