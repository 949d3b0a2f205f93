"""Frozen teachers: release layouts (exact key names / shapes), frozen under training."""
from __future__ import annotations

import pytest
import torch

from mmbeit.models.algorithms import VQKD
from mmbeit.models.teachers import BackboneTeacher, CLIPTeacher, DINOTeacher
from mmbeit.utils import StateDictMismatchError


def openai_clip_visual_shapes(width=768, layers=12, patch=16, grid=14, out=512) -> dict:
    """The image-tower tensors of OpenAI's CLIP ViT-B/16 ``state_dict`` (``visual.*``)."""
    shapes = {'visual.conv1.weight': (width, 3, patch, patch),
              'visual.class_embedding': (width,),
              'visual.positional_embedding': (grid * grid + 1, width),
              'visual.ln_pre.weight': (width,), 'visual.ln_pre.bias': (width,),
              'visual.ln_post.weight': (width,), 'visual.ln_post.bias': (width,),
              'visual.proj': (width, out)}
    for i in range(layers):
        p = f'visual.transformer.resblocks.{i}.'
        shapes.update({p + 'attn.in_proj_weight': (3 * width, width),
                       p + 'attn.in_proj_bias': (3 * width,),
                       p + 'attn.out_proj.weight': (width, width),
                       p + 'attn.out_proj.bias': (width,),
                       p + 'ln_1.weight': (width,), p + 'ln_1.bias': (width,),
                       p + 'mlp.c_fc.weight': (4 * width, width), p + 'mlp.c_fc.bias': (4 * width,),
                       p + 'mlp.c_proj.weight': (width, 4 * width), p + 'mlp.c_proj.bias': (width,),
                       p + 'ln_2.weight': (width,), p + 'ln_2.bias': (width,)})
    return shapes


def dino_vitb16_shapes(width=768, layers=12, patch=16, grid=14) -> dict:
    """The tensors of ``dino_vitbase16_pretrain.pth`` (timm-style ViT, no head)."""
    shapes = {'cls_token': (1, 1, width), 'pos_embed': (1, grid * grid + 1, width),
              'patch_embed.proj.weight': (width, 3, patch, patch),
              'patch_embed.proj.bias': (width,), 'norm.weight': (width,), 'norm.bias': (width,)}
    for i in range(layers):
        p = f'blocks.{i}.'
        shapes.update({p + 'norm1.weight': (width,), p + 'norm1.bias': (width,),
                       p + 'attn.qkv.weight': (3 * width, width), p + 'attn.qkv.bias': (3 * width,),
                       p + 'attn.proj.weight': (width, width), p + 'attn.proj.bias': (width,),
                       p + 'norm2.weight': (width,), p + 'norm2.bias': (width,),
                       p + 'mlp.fc1.weight': (4 * width, width), p + 'mlp.fc1.bias': (4 * width,),
                       p + 'mlp.fc2.weight': (width, 4 * width), p + 'mlp.fc2.bias': (width,)})
    return shapes


def _random(shapes: dict) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {k: torch.randn(s, generator=gen) * 0.05 for k, s in shapes.items()}


def test_clip_teacher_full_size_matches_openai_layout():
    teacher = CLIPTeacher()
    own = {'visual.' + k: tuple(v.shape) for k, v in teacher.teacher_state_dict().items()}
    assert own == openai_clip_visual_shapes()
    assert teacher.out_dims == 512


def test_clip_teacher_loads_full_clip_state_dict_and_ignores_text_tower(tmp_path):
    shapes = openai_clip_visual_shapes(width=64, layers=2, patch=8, grid=4, out=32)
    state = _random(shapes)
    state.update({'token_embedding.weight': torch.zeros(10, 8), 'text_projection':
                  torch.zeros(8, 32), 'transformer.resblocks.0.ln_1.weight': torch.zeros(8),
                  'positional_embedding': torch.zeros(77, 8), 'logit_scale': torch.zeros(())})
    torch.save(state, tmp_path / 'clip.pt')
    teacher = CLIPTeacher(img_size=32, patch_size=8, width=64, layers=2, out_dims=32,
                          checkpoint=str(tmp_path / 'clip.pt'))
    assert torch.equal(teacher.proj, state['visual.proj'])
    feats = teacher(torch.rand(2, 3, 32, 32))
    assert feats.shape == (2, 16, 32)
    # without the visual. prefix (image tower alone) the same weights load
    torch.save({k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')},
               tmp_path / 'visual.pt')
    again = CLIPTeacher(img_size=32, patch_size=8, width=64, layers=2, out_dims=32,
                        checkpoint=str(tmp_path / 'visual.pt'))
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(again(x), teacher(x))


def test_clip_teacher_mismatch_lists_missing_and_unexpected_keys(tmp_path):
    state = _random(openai_clip_visual_shapes(width=64, layers=2, patch=8, grid=4, out=32))
    del state['visual.ln_post.weight']
    state['visual.extra'] = torch.zeros(1)
    torch.save(state, tmp_path / 'bad.pt')
    with pytest.raises(StateDictMismatchError) as err:
        CLIPTeacher(img_size=32, patch_size=8, width=64, layers=2, out_dims=32,
                    checkpoint=str(tmp_path / 'bad.pt'))
    assert 'ln_post.weight' in str(err.value) and 'extra' in str(err.value)


def test_dino_teacher_full_size_accepts_exact_release_keys():
    teacher = DINOTeacher()
    state = {k: torch.zeros(s) for k, s in dino_vitb16_shapes().items()}
    converted = teacher.convert_checkpoint(state)  # raises on any key difference
    assert set(converted) == set(teacher.teacher_state_dict())
    assert teacher.out_dims == 768


def test_dino_teacher_loads_release_and_drops_only_the_softmax_invariant_k_bias(tmp_path):
    state = _random(dino_vitb16_shapes(width=64, layers=2, patch=8, grid=4))
    torch.save(state, tmp_path / 'dino.pth')
    arch = dict(embed_dims=64, num_layers=2, num_heads=4)
    teacher = DINOTeacher(arch=arch, img_size=32, patch_size=8,
                          checkpoint=str(tmp_path / 'dino.pth'))
    x = torch.rand(2, 3, 32, 32)
    feats = teacher(x)
    assert feats.shape == (2, 16, 64)
    # the same weights with a different k bias give the same features
    state['blocks.0.attn.qkv.bias'][64:128] += 1.0
    torch.save({'teacher': {'backbone.' + k: v for k, v in state.items()}},
               tmp_path / 'full.pth')
    other = DINOTeacher(arch=arch, img_size=32, patch_size=8,
                        checkpoint=str(tmp_path / 'full.pth'))
    assert torch.allclose(other(x), feats, atol=1e-5)
    del state['norm.bias']
    torch.save(state, tmp_path / 'bad.pth')
    with pytest.raises(StateDictMismatchError, match='norm.bias'):
        DINOTeacher(arch=arch, img_size=32, patch_size=8, checkpoint=str(tmp_path / 'bad.pth'))


TINY_VIT = dict(type='BEiTViT', arch=dict(embed_dims=32, num_layers=2, num_heads=2),
                img_size=32, patch_size=8, pos_embed='learned', use_shared_rel_pos_bias=False,
                layer_scale_init_value=0.0, out_type='featmap')


def test_backbone_teacher_loads_prefixed_backbone_from_a_training_checkpoint(tmp_path):
    from mmbeit.registry import MODELS
    source = MODELS.build(TINY_VIT)
    source.init_weights()
    ckpt = {'backbone.' + k: v for k, v in source.state_dict().items()}
    ckpt.update({'momentum_encoder.module.0.' + k: v * 0 for k, v in source.state_dict().items()})
    ckpt['neck.fc.weight'] = torch.zeros(2, 2)
    torch.save(dict(state_dict=ckpt, meta={}), tmp_path / 'moco.pth')
    teacher = BackboneTeacher(TINY_VIT, checkpoint=str(tmp_path / 'moco.pth'))
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = source.eval()((x - mean) / std)[0].flatten(2).transpose(1, 2)
    assert torch.allclose(teacher(x), expected, atol=1e-6)
    with pytest.raises(KeyError, match='prefix'):
        BackboneTeacher(TINY_VIT, checkpoint=str(tmp_path / 'moco.pth'), prefix='student.')


def test_teacher_stays_frozen_through_training_and_is_not_checkpointed():
    teacher = BackboneTeacher(TINY_VIT)
    model = VQKD(tokenizer=dict(type='VQKDTokenizer', encoder=dict(
        arch=dict(embed_dims=32, num_layers=1, num_heads=2), img_size=32, patch_size=8),
        num_tokens=8, code_dims=4, decoder=dict(embed_dims=32, num_layers=1, num_heads=2),
        target_dims=32), teacher=teacher)
    model.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    before = model.teacher_targets(x).clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    for _ in range(2):
        losses = model.loss(x)
        opt.zero_grad()
        (losses['loss_cos'] + losses['loss_commit']).backward()
        opt.step()
    # straight-through: the encoder's first layer got a gradient
    assert model.tokenizer.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert torch.equal(model.teacher_targets(x), before)
    state = model.state_dict()
    assert not any(k.startswith('teacher.') for k in state)
    result = model.load_state_dict(state, strict=True)  # teacher keys are not missing
    assert not result.missing_keys
    assert torch.equal(model.teacher_targets(x), before)
