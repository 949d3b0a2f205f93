"""Official releases through mmbeit to timm and HF, as a user would run the commands.

unilm BEiT v2 pretraining and moco-v3 release files (in their exact key layouts) ->
``unilm2mmbeit.py`` / ``mocov32mmbeit.py`` -> ``mmbeit2timm.py`` (strict timm load) and
``mmbeit2hf.py`` (``from_pretrained``): the final-norm tokens equal the original model's at
relative error <= 1e-5, and ``hf2mmbeit.py`` gives the mmbeit checkpoint back bit for bit.
"""
import timm
import torch
import transformers
from safetensors.torch import load_file

from mmbeit.utils import get_state_dict, load_checkpoint, strip_prefix
from tools.model_converters import (
    hf2mmbeit,
    mmbeit2hf,
    mmbeit2timm,
    mocov32mmbeit,
    timm2mmbeit,
    unilm2mmbeit,
)

from . import test_mocov3_release as moco
from . import test_unilm_beit as unilm
from .interop_models import rel_err
from .vit_reference import timm_vit_forward, unilm_beit_forward


def _timm_from_output(printed: str, path: str):
    call = next(line for line in printed.splitlines() if line.startswith('model = '))
    model = eval(call[len('model = '):], {'timm': timm}).eval()
    model.load_state_dict(load_file(path), strict=True)
    return model


def _state(path) -> dict:
    return get_state_dict(load_checkpoint(str(path)))


def _convert_unilm(tmp_path, release: dict):
    """unilm2mmbeit.py on a release file; (converted path, images, original tokens)."""
    torch.save({'model': release}, tmp_path / 'release.pth')
    converted = tmp_path / 'mmbeit.pth'
    unilm2mmbeit.main([str(tmp_path / 'release.pth'), str(converted),
                       '--num-heads', str(unilm.HEADS)])
    x = torch.randn(2, 3, unilm.IMG, unilm.IMG)
    tokens = unilm_beit_forward(release, x, unilm.DEPTH, unilm.HEADS, unilm.PATCH,
                                final_norm='norm.weight' in release)
    return converted, x, tokens


@torch.no_grad()
def test_official_beit_v2_pretraining_to_timm_and_hf_and_back(tmp_path, capsys):
    converted, x, want = _convert_unilm(tmp_path, unilm.unilm_pretrain_v2())

    capsys.readouterr()
    mmbeit2timm.main([str(converted), str(tmp_path / 'timm.safetensors')])
    model = _timm_from_output(capsys.readouterr().out, str(tmp_path / 'timm.safetensors'))
    assert isinstance(model, timm.models.beit.Beit)
    assert rel_err(model.forward_features(x), want) <= 1e-5

    mmbeit2hf.main([str(converted), str(tmp_path / 'hf'), '--backbone-only'])
    hf = transformers.AutoModel.from_pretrained(str(tmp_path / 'hf')).eval()
    assert rel_err(hf(pixel_values=x).last_hidden_state, want) <= 1e-5

    hf2mmbeit.main([str(tmp_path / 'hf'), str(tmp_path / 'back.pth')])
    back = _state(tmp_path / 'back.pth')
    mine = _state(converted)
    own = dict(strip_prefix(mine, 'backbone.'))
    own.update(('norm.' + k, v) for k, v in strip_prefix(mine, 'neck.norm.').items())
    assert sorted(strip_prefix(back, 'backbone.')) == sorted(own)
    assert all(torch.equal(back['backbone.' + k], v) for k, v in own.items())


@torch.no_grad()
def test_official_finetuned_beit_to_timm_and_back(tmp_path, capsys):
    release = unilm.unilm_finetuned()
    converted, x, tokens = _convert_unilm(tmp_path, release)
    pooled = torch.nn.functional.layer_norm(tokens[:, 1:].mean(1), (unilm.C,),
                                            release['fc_norm.weight'], release['fc_norm.bias'],
                                            1e-6)
    want = torch.nn.functional.linear(pooled, release['head.weight'], release['head.bias'])

    capsys.readouterr()
    mmbeit2timm.main([str(converted), str(tmp_path / 'timm.safetensors')])
    model = _timm_from_output(capsys.readouterr().out, str(tmp_path / 'timm.safetensors'))
    assert rel_err(model(x), want) <= 1e-5
    timm2mmbeit.main([str(tmp_path / 'timm.safetensors'), str(tmp_path / 'back.pth')])
    back, mine = _state(tmp_path / 'back.pth'), _state(converted)
    assert sorted(back) == sorted(mine)
    assert all(torch.equal(back[k], mine[k]) for k in mine)


@torch.no_grad()
def test_official_mocov3_release_to_timm_and_hf(tmp_path, capsys):
    release = moco.release_pretrain()
    torch.save({'state_dict': release}, tmp_path / 'moco.pth.tar')
    converted = tmp_path / 'mmbeit.pth'
    mocov32mmbeit.main([str(tmp_path / 'moco.pth.tar'), str(converted), '--prefix',
                        'backbone.', '--num-heads', str(moco.HEADS)])
    x = torch.randn(2, 3, moco.IMG, moco.IMG)
    vit = {k[len('module.base_encoder.'):]: v for k, v in release.items()
           if k.startswith('module.base_encoder.')}
    want = timm_vit_forward(vit, x, moco.DEPTH, moco.HEADS, moco.PATCH)

    capsys.readouterr()
    mmbeit2timm.main([str(converted), str(tmp_path / 'timm.safetensors')])
    model = _timm_from_output(capsys.readouterr().out, str(tmp_path / 'timm.safetensors'))
    assert isinstance(model, timm.models.vision_transformer.VisionTransformer)
    assert rel_err(model.forward_features(x), want) <= 1e-5

    mmbeit2hf.main([str(converted), str(tmp_path / 'hf')])
    hf = transformers.ViTModel.from_pretrained(str(tmp_path / 'hf'), add_pooling_layer=False)
    assert rel_err(hf.eval()(pixel_values=x).last_hidden_state, want) <= 1e-5
    hf2mmbeit.main([str(tmp_path / 'hf'), str(tmp_path / 'back.pth')])
    back, mine = _state(tmp_path / 'back.pth'), _state(converted)
    assert sorted(back) == sorted(mine)
    assert all(torch.equal(back[k], mine[k]) for k in mine)
