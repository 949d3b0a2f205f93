"""BEiT v1 / v2 release layouts against timm's ``Beit`` (the unilm model, same state-dict keys).

Fine-tune layout: per-layer relative position bias, layer scale, mean pooling + ``fc_norm``,
``head``. Pretraining layout (BEiT v2): shared relative position bias, final ``norm``, and the
release's extra ``mask_token`` / ``lm_head`` / ``cls_pt_layers`` (patch aggregation) keys.
"""
import pytest
import torch
from timm.models.beit import Beit

from mmbeit.models.backbones import ArchMismatchError, BEiTViT
from mmbeit.utils import StateDictMismatchError
from tools.model_converters.unilm2mmbeit import main as unilm_convert

from .parity import assert_parity, randomize_

IMG, PATCH, C, DEPTH, HEADS = 32, 8, 32, 3, 4
ARCH = dict(embed_dims=C, num_layers=DEPTH, num_heads=HEADS)


def _timm_beit(**kw):
    torch.manual_seed(0)
    model = Beit(img_size=IMG, patch_size=PATCH, embed_dim=C, depth=DEPTH, num_heads=HEADS,
                 use_abs_pos_emb=False, init_values=0.1, **kw)
    return randomize_(model, seed=3).eval()


def test_finetuned_release_gives_the_same_logits(tmp_path):
    ref = _timm_beit(num_classes=10, use_rel_pos_bias=True, global_pool='avg')
    src, dst = tmp_path / 'beit_finetuned.pth', tmp_path / 'out.pth'
    torch.save(dict(model=ref.state_dict()), src)
    unilm_convert([str(src), str(dst), '--num-heads', str(HEADS)])
    ours = BEiTViT(arch=ARCH, img_size=IMG, patch_size=PATCH, use_rel_pos_bias=True,
                   use_shared_rel_pos_bias=False, final_norm=False, avg_token_norm=True,
                   out_type='avg_featmap', init_cfg=dict(type='Pretrained',
                                                         checkpoint=str(dst),
                                                         prefix='backbone.'))
    ours.init_weights()
    state = torch.load(dst, weights_only=True)['state_dict']
    fc = torch.nn.Linear(C, 10)
    fc.load_state_dict({k[len('head.fc.'):]: v for k, v in state.items()
                        if k.startswith('head.fc.')})
    x = torch.randn(2, 3, IMG, IMG)
    assert_parity(lambda t: fc(ours.eval()(t)[0]), ref, x, modules=(ours, fc, ref))


def _v2_pretraining_release(tmp_path):
    """timm Beit with a shared bias and final norm, plus the v2 release's MIM-only keys."""
    ref = _timm_beit(num_classes=0, use_shared_rel_pos_bias=True, global_pool='token')
    sd = dict(ref.state_dict())
    g = torch.Generator().manual_seed(5)
    sd['mask_token'] = torch.randn(1, 1, C, generator=g)
    sd['lm_head.weight'], sd['lm_head.bias'] = torch.randn(64, C), torch.randn(64)
    for i in range(2):  # the patch-aggregation layers: block layout
        sd.update({f'cls_pt_layers.{i}.{k[len("blocks.0."):]}': v.clone()
                   for k, v in sd.items() if k.startswith('blocks.0.')})
    src = tmp_path / 'beitv2_pt.pth'
    torch.save(dict(model=sd), src)
    return ref, src


def test_v2_backbone_only_keeps_the_final_norm(tmp_path):
    ref, src = _v2_pretraining_release(tmp_path)
    dst = tmp_path / 'backbone.pth'
    unilm_convert([str(src), str(dst), '--backbone-only', '--prefix', 'backbone.',
                   '--num-heads', str(HEADS)])
    state = torch.load(dst, weights_only=True)['state_dict']
    assert 'backbone.norm.weight' in state and not any('cls_pt' in k for k in state)
    ours = BEiTViT(arch=ARCH, img_size=IMG, patch_size=PATCH, final_norm=True,
                   init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    ours.init_weights()
    x = torch.randn(2, 3, IMG, IMG)
    assert_parity(lambda t: ours.eval()(t)[0], ref.forward_features, x, modules=(ours, ref))


def test_a_checkpoint_without_an_expected_tensor_is_refused(tmp_path):
    _, src = _v2_pretraining_release(tmp_path)
    dst = tmp_path / 'backbone.pth'
    unilm_convert([str(src), str(dst), '--backbone-only', '--num-heads', str(HEADS)])
    ckpt = torch.load(dst, weights_only=True)
    for k in ('norm.weight', 'norm.bias'):  # what the old --backbone-only wrote
        del ckpt['state_dict'][k]
    torch.save(ckpt, dst)
    ours = BEiTViT(arch=ARCH, img_size=IMG, patch_size=PATCH, final_norm=True,
                   init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    with pytest.raises(StateDictMismatchError, match='missing keys.*norm.bias, norm.weight'):
        ours.init_weights()


def test_wrong_depth_or_heads_names_the_checkpoint_arch(tmp_path):
    _, src = _v2_pretraining_release(tmp_path)
    dst = tmp_path / 'backbone.pth'
    unilm_convert([str(src), str(dst), '--backbone-only', '--num-heads', str(HEADS)])
    for arch in (dict(ARCH, num_heads=2), dict(ARCH, num_layers=DEPTH + 1)):
        ours = BEiTViT(arch=arch, img_size=IMG, patch_size=PATCH,
                       init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
        with pytest.raises(ArchMismatchError, match=f'num_heads={HEADS}'):
            ours.init_weights()
