"""mmbeit pretraining checkpoint -> backbone-only checkpoint for mmpretrain / mmdet / mmseg."""
import pytest
import torch
from torch import nn

from mmbeit.converters import extract_backbone
from mmbeit.models.backbones import BEiTViT
from mmbeit.models.heads.mim_head import BEiTV2Head
from mmbeit.models.necks import PatchAggregationNeck
from mmbeit.utils import load_state_dict_report
from tools.model_converters.extract_backbone import main as extract_main

ARCH = dict(embed_dims=16, num_layers=3, num_heads=2)


class _PretrainLayout(nn.Module):
    """The module tree of a BEiT v2 algorithm: backbone, neck, head, tokenizer."""

    def __init__(self):
        super().__init__()
        self.backbone = BEiTViT(arch=ARCH, img_size=16, patch_size=4, with_mask_token=True,
                                final_norm=False, out_indices=[1, 2])
        self.backbone.init_weights()
        self.neck = PatchAggregationNeck(16, 2, num_layers=1, early_layers=2)
        self.head = BEiTV2Head(16, 8)
        self.target_generator = nn.Linear(4, 4)


def _transfer_backbone(**kw):
    return BEiTViT(arch=ARCH, img_size=16, patch_size=4, final_norm=False, out_indices=[0, 2],
                   out_type='featmap', **kw).eval()


def test_backbone_lands_and_pretraining_parts_are_dropped():
    model = _PretrainLayout()
    assert 'norm.weight' in extract_backbone(model.state_dict())  # the neck's shared norm
    out = extract_backbone(model.state_dict(), keep_shared_norm=False)
    assert 'mask_token' not in out and not any(k.startswith(('neck', 'head', 'target'))
                                               for k in out)
    backbone = _transfer_backbone()
    load_state_dict_report(backbone, out)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        want = model.backbone.eval().forward_tokens(x, out_indices=[2])[2]
        got = backbone(x)[-1]
    torch.testing.assert_close(got, want[:, 1:].transpose(1, 2).reshape(2, 16, 4, 4))


def test_unshared_tables_give_the_same_outputs_per_layer():
    model = _PretrainLayout()
    shared = _transfer_backbone()
    load_state_dict_report(shared, extract_backbone(model.state_dict(), keep_shared_norm=False))
    per_layer = _transfer_backbone(use_rel_pos_bias=True, use_shared_rel_pos_bias=False)
    load_state_dict_report(per_layer,
                           extract_backbone(model.state_dict(), unshare_rel_pos_bias=True,
                                            keep_shared_norm=False))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        for a, b in zip(shared(x), per_layer(x)):
            torch.testing.assert_close(a, b)


def test_cli_output_loads_through_mmengine_pretrained_init(tmp_path):
    model = _PretrainLayout()
    src, dst = tmp_path / 'epoch_1.pth', tmp_path / 'backbone.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), src)
    extract_main([str(src), str(dst), '--prefix', 'backbone.', '--unshare-rel-pos-bias'])
    backbone = _transfer_backbone(use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
                                  init_cfg=dict(type='Pretrained', checkpoint=str(dst),
                                                prefix='backbone.'))
    backbone.init_weights()
    torch.testing.assert_close(backbone.blocks[1].attn.qkv.weight,
                               model.backbone.blocks[1].attn.qkv.weight)
    torch.testing.assert_close(backbone.blocks[2].rel_pos_bias.relative_position_bias_table,
                               model.backbone.rel_pos_bias.relative_position_bias_table)


def test_missing_backbone_prefix_is_reported():
    with pytest.raises(KeyError, match="no keys under 'encoder.'"):
        extract_backbone(_PretrainLayout().state_dict(), source_prefix='encoder.')
