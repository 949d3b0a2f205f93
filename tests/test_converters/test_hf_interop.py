"""mmbeit <-> HF transformers: offline loads with no missing / unexpected keys, equal outputs,
bit-identical round trips."""
import json

import pytest
import torch
import torch.nn.functional as F
import transformers

from mmbeit.converters.hf_layout import hf_to_mmbeit
from mmbeit.utils import get_state_dict, load_checkpoint, strip_prefix
from mmbeit.utils.checkpoint import save_safetensors
from tools.model_converters import hf2mmbeit, mmbeit2hf

from .interop_models import (
    BEIT_FT,
    MOCOV3,
    PATCH,
    beit_v1_checkpoint,
    beit_v2_checkpoint,
    classifier_checkpoint,
    images,
    mocov3_checkpoint,
    rel_err,
)


def _load(cls, folder, head=None, **kwargs):
    """``from_pretrained`` with no missing / mis-shaped key; unexpected ones only of ``head``
    (the task head, when a base model reads a task model's folder)."""
    model, info = getattr(transformers, cls).from_pretrained(
        str(folder), output_loading_info=True, **kwargs)
    unexpected = {k for k in info['unexpected_keys'] if not (head and k.startswith(head))}
    assert not (info['missing_keys'] or unexpected or info['mismatched_keys']), info
    return model.eval()


def _export(tmp_path, src, *extra):
    dst = tmp_path / 'hf'
    mmbeit2hf.main([str(src), str(dst), *extra])
    return dst, json.loads((dst / 'config.json').read_text())


def _back(tmp_path, folder, *extra):
    out = tmp_path / 'back.pth'
    hf2mmbeit.main([str(folder), str(out), *extra])
    return get_state_dict(load_checkpoint(str(out))), load_checkpoint(str(out))['meta']


def _model_state(backbone, **heads) -> dict:
    """mmbeit model keys: ``backbone.*`` and ``head.{name}.*`` for each head given."""
    out = {'backbone.' + k: v for k, v in backbone.state_dict().items()}
    for name, tensors in heads.items():
        out.update((f'head.{name}.{k}', v) for k, v in tensors.items())
    return out


def _assert_same(got, want):
    assert sorted(got) == sorted(want)
    assert all(torch.equal(got[k], want[k]) for k in want), [k for k in want
                                                             if not torch.equal(got[k], want[k])]


@torch.no_grad()
def test_beit_v2_backbone_loads_with_automodel_final_norm_tokens_equal(tmp_path):
    backbone, norm = beit_v2_checkpoint(tmp_path / 'v2.pth')
    folder, config = _export(tmp_path, tmp_path / 'v2.pth', '--backbone-only')
    assert config['architectures'] == ['BeitModel']
    assert config['use_shared_relative_position_bias'] and config['num_attention_heads'] == 4
    model = _load('AutoModel', folder)
    assert type(model).__name__ == 'BeitModel'
    x = images()
    want = norm(backbone.forward_tokens(x)[1])
    assert rel_err(model(pixel_values=x).last_hidden_state, want) <= 1e-5

    state, meta = _back(tmp_path, folder)
    own = {'backbone.' + k: v for k, v in backbone.state_dict().items()}
    own.update({'backbone.norm.' + k: v for k, v in norm.state_dict().items()})
    _assert_same(state, own)
    assert meta['arch']['num_heads'] == 4


@torch.no_grad()
def test_beit_v1_with_its_lm_head_is_a_masked_image_model(tmp_path):
    backbone, lm = beit_v1_checkpoint(tmp_path / 'v1.pth')
    folder, config = _export(tmp_path, tmp_path / 'v1.pth')
    assert config['architectures'] == ['BeitForMaskedImageModeling']
    assert config['vocab_size'] == lm['weight'].shape[0] and config['use_mask_token']
    model = _load('BeitForMaskedImageModeling', folder)
    x = images()
    grid = x.shape[-1] // PATCH
    mask = torch.rand(2, grid * grid, generator=torch.Generator().manual_seed(0)) < 0.4
    want = F.linear(backbone(x, mask.view(2, grid, grid))[0][:, 1:], lm['weight'], lm['bias'])
    got = model(pixel_values=x, bool_masked_pos=mask).logits
    assert rel_err(got, want) <= 1e-5

    state, _ = _back(tmp_path, folder)
    _assert_same(state, _model_state(backbone, lm_head=lm))


@torch.no_grad()
def test_mocov3_is_an_hf_vit_and_comes_back_bit_identical(tmp_path):
    backbone = mocov3_checkpoint(tmp_path / 'moco.pth')
    folder, config = _export(tmp_path, tmp_path / 'moco.pth')
    assert config['architectures'] == ['ViTModel'] and config['layer_norm_eps'] == 1e-6
    model = _load('ViTModel', folder, add_pooling_layer=False)
    x = images()
    tokens = model(pixel_values=x).last_hidden_state
    assert rel_err(tokens[:, 0], backbone(x)[0]) <= 1e-5
    processor = json.loads((folder / 'preprocessor_config.json').read_text())
    assert processor['image_mean'] == pytest.approx([0.485, 0.456, 0.406], abs=1e-6)

    state, _ = _back(tmp_path, folder)
    _assert_same(strip_prefix(state, 'backbone.'), backbone.state_dict())


@pytest.mark.parametrize('cfg,cls', [(BEIT_FT, 'BeitForImageClassification'),
                                     (MOCOV3, 'ViTForImageClassification')])
@torch.no_grad()
def test_classifiers_give_equal_logits_and_come_back_bit_identical(tmp_path, cfg, cls):
    """A fine-tuned BEiT (mean-pooled fc_norm) and a MoCo v3 linear probe (CLS token)."""
    backbone, fc = classifier_checkpoint(tmp_path / 'ft.pth', cfg)
    folder, config = _export(tmp_path, tmp_path / 'ft.pth')
    assert config['architectures'] == [cls] and len(config['id2label']) == fc['bias'].numel()
    model = _load(cls, folder)
    x = images()
    want = F.linear(backbone(x)[0], fc['weight'], fc['bias'])
    assert rel_err(model(pixel_values=x).logits, want) <= 1e-5
    if cls.startswith('Beit'):
        assert config['use_mean_pooling'] and config['use_relative_position_bias']
        _load('AutoModel', folder, head='classifier.')  # the backbone alone: nothing missing

    state, _ = _back(tmp_path, folder)
    _assert_same(state, _model_state(backbone, fc=fc))


@torch.no_grad()
def test_files_saved_by_transformers_itself_come_back(tmp_path):
    """What ``save_pretrained`` of the installed transformers writes is the layout we read."""
    backbone, fc = classifier_checkpoint(tmp_path / 'ft.pth', BEIT_FT)
    folder, _ = _export(tmp_path, tmp_path / 'ft.pth')
    model = _load('BeitForImageClassification', folder)
    resaved = tmp_path / 'resaved'
    model.save_pretrained(str(resaved))
    state, _ = _back(tmp_path, resaved)
    _assert_same(state, _model_state(backbone, fc=fc))


def test_leftovers_are_errors_unless_dropped_by_name(tmp_path):
    classifier_checkpoint(tmp_path / 'lin.pth', MOCOV3)
    folder, config = _export(tmp_path, tmp_path / 'lin.pth')
    state = get_state_dict(load_checkpoint(str(folder / 'model.safetensors')))
    state['vit.pooler.dense.weight'] = torch.zeros(4, 4)
    with pytest.raises(KeyError, match='vit.pooler.dense.weight'):
        hf_to_mmbeit(state, config)
    _, _, dropped = hf_to_mmbeit(state, config, drop=('pooler.',))
    assert dropped == ['vit.pooler.dense.weight (--drop)']
    save_safetensors(state, str(folder / 'model.safetensors'))  # a ViT with HF's pooler
    with pytest.raises(KeyError, match='vit.pooler.dense.weight'):
        hf2mmbeit.main([str(folder), str(tmp_path / 'out.pth')])
    hf2mmbeit.main([str(folder), str(tmp_path / 'out.pth'), '--drop', 'pooler.'])
    assert not any('pooler' in k for k in get_state_dict(load_checkpoint(
        str(tmp_path / 'out.pth'))))
    with pytest.raises(ValueError, match="model_type 'swin'"):
        hf_to_mmbeit(state, dict(config, model_type='swin'))
