"""The demo stages (configs/demo/, run in turn by tools/demo.py) build their models, and each
stage loads the model the previous one trained: the same dicts of one tiny-digits model base
(configs/_base_/models/vit-tiny-p4_digits.py), not copies."""
from pathlib import Path

import pytest
from mmengine.config import Config

import mmbeit  # noqa: F401
from mmbeit.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
MOCOV3 = 'configs/demo/mocov3_vit-tiny-p4_1xb128-demo_digits.py'
VQKD = 'configs/demo/vqkd_vit-tiny-p4_1xb64-mocov3-teacher-demo_digits.py'
BEITV2 = 'configs/demo/beitv2_vit-tiny-p4_1xb64-demo_digits.py'


def _cfg(path):
    return Config.fromfile(str(REPO / path))


def test_the_three_stages_are_the_demo_configs():
    assert sorted(str(p.relative_to(REPO)) for p in (REPO / 'configs/demo').glob('*.py')) == \
        sorted([MOCOV3, VQKD, BEITV2])


@pytest.mark.parametrize('path', [MOCOV3, VQKD, BEITV2], ids=lambda p: Path(p).stem)
def test_demo_stage_builds_its_model(path):
    cfg = _cfg(path)
    model = MODELS.build(cfg.model)  # no checkpoint: tools/demo.py passes the previous stage's
    assert type(model).__name__ == cfg.model.type
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'


def test_vqkd_teacher_backbone_is_the_mocov3_demo_backbone():
    moco, vqkd = _cfg(MOCOV3), _cfg(VQKD)
    backbone, teacher = moco.model.backbone, vqkd.model.teacher
    assert teacher.type == 'BackboneTeacher' and teacher.checkpoint is None
    # the MoCo v3 model reads the CLS token, the teacher gives the patch tokens: the rest is
    # the one dict of the tiny-digits base
    assert (backbone.out_type, teacher.backbone.out_type) == ('cls_token', 'featmap')
    assert dict(teacher.backbone, out_type='featmap') == dict(backbone, out_type='featmap')
    assert dict(backbone, out_type=None) == dict(moco.mocov3_vit_tiny, out_type=None)
    assert vqkd.model.tokenizer.target_dims == backbone.arch.embed_dims
    # stage 1 checkpoints hold the backbone under backbone.; the teacher takes [-1, 1] inputs
    assert teacher.prefix == 'backbone.' and teacher.mean == teacher.std == [0.5] * 3
    assert moco.model.data_preprocessor.mean == moco.model.data_preprocessor.std == [127.5] * 3


def test_beitv2_target_generator_is_the_vqkd_demo_tokenizer():
    vqkd, beitv2 = _cfg(VQKD), _cfg(BEITV2)
    tokenizer, target = vqkd.model.tokenizer, beitv2.model.target_generator
    assert target.type == tokenizer.type == 'VQKDTokenizer' and target.checkpoint is None
    assert target.encoder == tokenizer.encoder == vqkd.vqkd_encoder_tiny
    assert (target.num_tokens, target.code_dims) == (tokenizer.num_tokens, tokenizer.code_dims)
    assert target.decoder is None  # the encoder and the codebook are enough to tokenize
    assert beitv2.model.head.num_tokens == tokenizer.num_tokens == 64
