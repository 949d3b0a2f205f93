"""Multi-scale adapter: BEiT 4-input layout and ViTDet simple pyramid, strides 4..32."""
import pytest
import torch

from mmbeit.models.backbones import BEiTViT
from mmbeit.models.necks import MultiScaleAdapter


def _maps(n=4, c=8, h=4, w=6):
    return [torch.randn(2, c, h, w) for _ in range(n)]


def test_beit_layout_gives_strides_4_8_16_32_from_its_four_inputs():
    adapter = MultiScaleAdapter(8).eval()
    maps = _maps()
    outs = adapter(maps)
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 24), (2, 8, 8, 12), (2, 8, 4, 6),
                                              (2, 8, 2, 3)]
    assert torch.equal(outs[2], maps[2])
    assert torch.equal(outs[3], torch.nn.functional.max_pool2d(maps[3], 2))
    # each scale depends on its own input only
    maps2 = [m.clone() for m in maps]
    maps2[0] += 1
    outs2 = adapter(maps2)
    assert not torch.allclose(outs2[0], outs[0])
    assert all(torch.equal(a, b) for a, b in zip(outs[1:], outs2[1:]))


def test_simple_pyramid_uses_the_last_map_and_projects_channels():
    adapter = MultiScaleAdapter(8, layout='simple_pyramid', out_channels=5).eval()
    maps = _maps(n=2)
    outs = adapter(maps)
    assert [tuple(o.shape) for o in outs] == [(2, 5, 16, 24), (2, 5, 8, 12), (2, 5, 4, 6),
                                              (2, 5, 2, 3)]
    maps[0] += 1
    assert all(torch.equal(a, b) for a, b in zip(outs, adapter(maps)))


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match='4 backbone maps'):
        MultiScaleAdapter(8)(_maps(n=3))
    with pytest.raises(ValueError, match='featmap'):
        MultiScaleAdapter(8)([torch.randn(2, 5, 8)] * 4)
    with pytest.raises(ValueError, match='simple_pyramid'):
        MultiScaleAdapter(8, out_channels=4)


def test_backbone_featmaps_non_square_into_adapter_with_resized_rel_pos_table():
    src = BEiTViT(arch=dict(embed_dims=8, num_layers=4, num_heads=2), img_size=32, patch_size=8,
                  final_norm=False)
    dst = BEiTViT(arch=dict(embed_dims=8, num_layers=4, num_heads=2), img_size=(32, 64),
                  patch_size=8, out_indices=[0, 1, 2, 3], out_type='featmap', final_norm=False)
    dst.load_state_dict(src.state_dict())
    assert dst.rel_pos_bias.relative_position_bias_table.shape[0] == 7 * 15 + 3
    outs = MultiScaleAdapter(8)(dst(torch.randn(1, 3, 32, 64)))
    assert [o.shape[-2:] for o in outs] == [(16, 32), (8, 16), (4, 8), (2, 4)]
