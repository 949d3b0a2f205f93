"""One VQ-KD weight set saved in the mmbeit, unilm and mmpretrain layouts gives one set of ids."""
from __future__ import annotations

import pytest
import torch

from mmbeit.models.tokenizers import VQKDTokenizer
from mmbeit.models.tokenizers.vqkd_layouts import (
    convert_vqkd_state_dict,
    detect_vqkd_layout,
    mmbeit_to_mmpretrain,
    mmbeit_to_unilm,
)
from mmbeit.utils import StateDictMismatchError, add_prefix

SMALL = dict(encoder=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2), img_size=32,
                          patch_size=8),
             num_tokens=16, code_dims=8, decoder=dict(embed_dims=32, num_layers=1, num_heads=2),
             target_dims=24)


def _trained_like_tokenizer() -> VQKDTokenizer:
    torch.manual_seed(0)
    tok = VQKDTokenizer(**SMALL)
    with torch.no_grad():
        for p in tok.parameters():
            p.normal_(0, 0.5)
        tok.quantize.embedding.weight.copy_(torch.nn.functional.normalize(
            torch.randn(16, 8), dim=1))
        tok.quantize.embedding.initted.fill_(1)
        tok.quantize.cluster_size.uniform_()
    return tok.eval()


def _unilm_key_set(depth: int, dec_depth: int) -> set:
    """The official beit2 VQ-KD release keys (encoder / decoder ``VisionTransformer`` with
    ``use_mean_pooling`` -> ``fc_norm``, ``NormEMAVectorQuantizer``, task layers)."""
    keys = set()
    for part, n in (('encoder', depth), ('decoder', dec_depth)):
        keys |= {f'{part}.{k}' for k in ('cls_token', 'pos_embed', 'patch_embed.proj.weight',
                                         'patch_embed.proj.bias', 'fc_norm.weight',
                                         'fc_norm.bias')}
        for i in range(n):
            keys |= {f'{part}.blocks.{i}.{k}' for k in (
                'norm1.weight', 'norm1.bias', 'attn.q_bias', 'attn.v_bias', 'attn.qkv.weight',
                'attn.proj.weight', 'attn.proj.bias', 'norm2.weight', 'norm2.bias',
                'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias')}
    keys |= {'quantize.cluster_size', 'quantize.embedding.weight', 'quantize.embedding.initted',
             'quantize.embedding.cluster_size', 'quantize.embedding.embed_avg'}
    keys |= {f'{t}_task_layer.{i}.{w}' for t in ('encode', 'decode') for i in (0, 2)
             for w in ('weight', 'bias')}
    return keys


def test_full_size_export_has_the_official_unilm_keys_and_shapes():
    tok = VQKDTokenizer()  # ViT-B/16, 8192 x 32, 3-layer decoder, 512-d targets
    unilm = mmbeit_to_unilm(tok.state_dict())
    assert set(unilm) == _unilm_key_set(12, 3)
    shapes = {k: tuple(v.shape) for k, v in unilm.items()}
    assert shapes['encoder.pos_embed'] == (1, 197, 768)
    assert shapes['decoder.patch_embed.proj.weight'] == (768, 32, 1, 1)
    assert shapes['decoder.pos_embed'] == (1, 197, 768)
    assert shapes['quantize.embedding.weight'] == (8192, 32)
    assert shapes['encode_task_layer.2.weight'] == (32, 768)
    assert shapes['decode_task_layer.2.weight'] == (512, 768)
    assert shapes['encoder.blocks.11.attn.qkv.weight'] == (2304, 768)


def test_one_weight_set_in_three_layouts_gives_identical_token_ids(tmp_path):
    pytest.importorskip('mmpretrain')
    from mmpretrain.models.selfsup.beit import VQKD as MMPreVQKD

    tok = _trained_like_tokenizer()
    own = tok.state_dict()
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    expected = tok.tokenize(images)

    # (a) an mmbeit VQKD training checkpoint: tokenizer.* (+ MMEngine meta)
    torch.save(dict(state_dict=add_prefix(own, 'tokenizer.'), meta=dict(epoch=1)),
               tmp_path / 'mmbeit.pth')
    # (b) the official release: {'model': ...} with teacher and scaling-layer keys
    unilm = mmbeit_to_unilm(own)
    unilm['teacher_model.visual.proj'] = torch.zeros(4, 4)
    unilm['scaling_layer.shift'] = torch.zeros(1, 3, 1, 1)
    torch.save(dict(model=unilm), tmp_path / 'unilm.pth')
    # (c) mmpretrain's VQKD: its own module must take the keys strictly
    mmpre = mmbeit_to_mmpretrain(own)
    reference = MMPreVQKD(
        encoder_config=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                      feedforward_channels=128), img_size=32, patch_size=8,
                            out_type='featmap', with_cls_token=True, use_abs_pos_emb=True,
                            use_rel_pos_bias=False, use_shared_rel_pos_bias=False,
                            layer_scale_init_value=0.0, final_norm=True),
        num_embed=16, embed_dims=8).eval()
    reference.load_state_dict(mmpre, strict=True)
    assert torch.equal(reference(images).view(3, 4, 4), expected)
    torch.save(dict(state_dict=add_prefix(mmpre, 'target_generator.')),
               tmp_path / 'mmpretrain.pth')

    for layout in ('mmbeit', 'unilm', 'mmpretrain'):
        loaded = VQKDTokenizer(**SMALL, checkpoint=str(tmp_path / f'{layout}.pth')).eval()
        assert torch.equal(loaded.tokenize(images), expected), layout
        assert (loaded.decoder is None) == (layout == 'mmpretrain')
        sd, detected = convert_vqkd_state_dict(torch.load(tmp_path / f'{layout}.pth'))
        assert detected == layout
    # decode_features works on the layouts that keep the decoder
    full = VQKDTokenizer(**SMALL, checkpoint=str(tmp_path / 'unilm.pth')).eval()
    assert torch.allclose(full.decode_features(expected), tok.decode_features(expected))


def test_pretrained_init_cfg_loads_in_init_weights(tmp_path):
    tok = _trained_like_tokenizer()
    torch.save(dict(model=mmbeit_to_unilm(tok.state_dict())), tmp_path / 'unilm.pth')
    lazy = VQKDTokenizer(**SMALL, init_cfg=dict(type='Pretrained',
                                                checkpoint=str(tmp_path / 'unilm.pth')))
    lazy.init_weights()
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(lazy.eval().tokenize(images), tok.tokenize(images))


def test_mismatched_checkpoint_lists_missing_and_unexpected_keys(tmp_path):
    own = _trained_like_tokenizer().state_dict()
    del own['encoder.blocks.1.attn.qkv.weight']
    own['encoder.blocks.1.attn.extra'] = torch.zeros(1)
    torch.save(own, tmp_path / 'bad.pth')
    with pytest.raises(StateDictMismatchError) as err:
        VQKDTokenizer(**SMALL, checkpoint=str(tmp_path / 'bad.pth'))
    assert 'encoder.blocks.1.attn.qkv.weight' in str(err.value)
    assert 'encoder.blocks.1.attn.extra' in str(err.value)


def test_detect_layout_rejects_non_vqkd_state_dicts():
    with pytest.raises(KeyError, match='not a VQ-KD checkpoint'):
        detect_vqkd_layout({'backbone.cls_token': torch.zeros(1)})
