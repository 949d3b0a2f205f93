"""unilm BEiT / BEiT v2 checkpoints -> mmbeit: every key lands, outputs equal the original."""
import pytest
import torch

from mmbeit.converters import convert_unilm_beit
from mmbeit.models.backbones import BEiTViT
from mmbeit.models.heads.mim_head import BEiTV2Head
from mmbeit.models.necks import PatchAggregationNeck
from mmbeit.utils import StateDictMismatchError, load_state_dict_report, strip_prefix

from .vit_reference import unilm_beit_forward, unilm_relative_position_index

C, HEADS, DEPTH, PATCH, IMG, VOCAB = 16, 2, 3, 4, 16, 32
GRID = IMG // PATCH


def _block(prefix, per_layer_bias, g):
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {
        prefix + 'gamma_1': r(C), prefix + 'gamma_2': r(C),
        prefix + 'norm1.weight': 1 + r(C), prefix + 'norm1.bias': r(C),
        prefix + 'attn.q_bias': r(C), prefix + 'attn.v_bias': r(C),
        prefix + 'attn.qkv.weight': r(3 * C, C),
        prefix + 'attn.proj.weight': r(C, C), prefix + 'attn.proj.bias': r(C),
        prefix + 'norm2.weight': 1 + r(C), prefix + 'norm2.bias': r(C),
        prefix + 'mlp.fc1.weight': r(4 * C, C), prefix + 'mlp.fc1.bias': r(4 * C),
        prefix + 'mlp.fc2.weight': r(C, 4 * C), prefix + 'mlp.fc2.bias': r(C),
    }
    if per_layer_bias:
        sd[prefix + 'attn.relative_position_bias_table'] = r((2 * GRID - 1) ** 2 + 3, HEADS)
        sd[prefix + 'attn.relative_position_index'] = unilm_relative_position_index(GRID, GRID)
    return sd


def unilm_pretrain_v2(seed=0):
    """BEiT v2 pretraining layout (VisionTransformerForMaskedImageModelingCLS, shared bias)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {'cls_token': r(1, 1, C), 'mask_token': r(1, 1, C),
          'patch_embed.proj.weight': r(C, 3, PATCH, PATCH), 'patch_embed.proj.bias': r(C),
          'rel_pos_bias.relative_position_bias_table': r((2 * GRID - 1) ** 2 + 3, HEADS),
          'rel_pos_bias.relative_position_index': unilm_relative_position_index(GRID, GRID)}
    for i in range(DEPTH):
        sd.update(_block(f'blocks.{i}.', False, g))
    sd.update({'norm.weight': 1 + r(C), 'norm.bias': r(C),
               'lm_head.weight': r(VOCAB, C), 'lm_head.bias': r(VOCAB)})
    for i in range(2):
        sd.update(_block(f'cls_pt_layers.{i}.', False, g))
    return sd


def unilm_finetuned(seed=1):
    """Fine-tuned classifier layout: per-layer bias, fc_norm + head, no final norm."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {'cls_token': r(1, 1, C), 'patch_embed.proj.weight': r(C, 3, PATCH, PATCH),
          'patch_embed.proj.bias': r(C)}
    for i in range(DEPTH):
        sd.update(_block(f'blocks.{i}.', True, g))
    sd.update({'fc_norm.weight': 1 + r(C), 'fc_norm.bias': r(C),
               'head.weight': r(10, C), 'head.bias': r(10)})
    return sd


def _arch():
    return dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS)


def test_v2_pretraining_checkpoint_lands_in_backbone_neck_and_head():
    sd = unilm_pretrain_v2()
    out, dropped = convert_unilm_beit(sd)
    assert len(out) + len(dropped) == len(sd)
    assert dropped == ['rel_pos_bias.relative_position_index']
    backbone = BEiTViT(arch=_arch(), img_size=IMG, patch_size=PATCH, with_mask_token=True,
                       final_norm=False, out_indices=[1, DEPTH - 1])
    neck = PatchAggregationNeck(C, HEADS, num_layers=2, early_layers=2)
    head = BEiTV2Head(C, VOCAB)
    for prefix, module in (('backbone.', backbone), ('neck.', neck), ('head.', head)):
        load_state_dict_report(module, strip_prefix(out, prefix), source=prefix)
    assert sum(len(strip_prefix(out, p)) for p in ('backbone.', 'neck.', 'head.')) == len(out)

    x = torch.randn(2, 3, IMG, IMG)
    want = unilm_beit_forward(sd, x, DEPTH, HEADS, PATCH, final_norm=True)
    got = neck.norm(backbone.eval().forward_tokens(x)[DEPTH - 1])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_finetuned_checkpoint_matches_original_classifier():
    sd = unilm_finetuned()
    out, _ = convert_unilm_beit(sd)
    backbone = BEiTViT(arch=_arch(), img_size=IMG, patch_size=PATCH, use_rel_pos_bias=True,
                       use_shared_rel_pos_bias=False, final_norm=False, avg_token_norm=True,
                       out_type='avg_featmap').eval()
    load_state_dict_report(backbone, strip_prefix(out, 'backbone.'))
    fc = torch.nn.Linear(C, 10)
    load_state_dict_report(fc, strip_prefix(out, 'head.fc.'))
    x = torch.randn(2, 3, IMG, IMG)
    tokens = unilm_beit_forward(sd, x, DEPTH, HEADS, PATCH, final_norm=False)
    pooled = torch.nn.functional.layer_norm(tokens[:, 1:].mean(1), (C,), sd['fc_norm.weight'],
                                            sd['fc_norm.bias'], 1e-6)
    want = torch.nn.functional.linear(pooled, sd['head.weight'], sd['head.bias'])
    with torch.no_grad():
        got = fc(backbone(x)[-1])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_per_layer_tables_resize_to_a_larger_grid_on_load():
    out, _ = convert_unilm_beit(unilm_finetuned())
    big = BEiTViT(arch=_arch(), img_size=(32, 48), patch_size=PATCH, use_rel_pos_bias=True,
                  use_shared_rel_pos_bias=False, final_norm=False, avg_token_norm=True)
    load_state_dict_report(big, strip_prefix(out, 'backbone.'))
    table = big.blocks[0].rel_pos_bias.relative_position_bias_table
    assert table.shape == ((2 * 8 - 1) * (2 * 12 - 1) + 3, HEADS)


def test_wrong_or_unknown_checkpoints_fail_with_a_key_report():
    out, _ = convert_unilm_beit(unilm_pretrain_v2())
    wider = BEiTViT(arch=dict(embed_dims=2 * C, num_layers=DEPTH + 1, num_heads=HEADS),
                    img_size=IMG, patch_size=PATCH, final_norm=False, with_mask_token=True)
    with pytest.raises(StateDictMismatchError) as err:
        load_state_dict_report(wider, strip_prefix(out, 'backbone.'), source='v2 ckpt')
    msg = str(err.value)
    assert 'missing keys' in msg and 'blocks.3.' in msg and 'shape of cls_token' in msg
    with pytest.raises(KeyError, match='no known unilm'):
        convert_unilm_beit({**unilm_finetuned(), 'decoder.weight': torch.zeros(1)})


def test_unshare_on_a_finetuned_release_keeps_its_tables_and_says_so(tmp_path, capsys):
    from tools.model_converters import unilm2mmbeit

    release = unilm_finetuned()
    torch.save({'model': release}, tmp_path / 'ft.pth')
    unilm2mmbeit.main([str(tmp_path / 'ft.pth'), str(tmp_path / 'out.pth'), '--backbone-only',
                       '--prefix', 'backbone.', '--unshare-rel-pos-bias',
                       '--num-heads', str(HEADS)])
    assert 'one relative position table per block already' in capsys.readouterr().out
    out = torch.load(tmp_path / 'out.pth')['state_dict']
    for i in range(DEPTH):
        assert torch.equal(out[f'backbone.blocks.{i}.rel_pos_bias.relative_position_bias_table'],
                           release[f'blocks.{i}.attn.relative_position_bias_table'])


def test_hf_transformers_keys_point_to_the_hf_importer():
    with pytest.raises(KeyError, match='hf2mmbeit.py'):
        convert_unilm_beit({'beit.embeddings.cls_token': torch.zeros(1, 1, C)})
