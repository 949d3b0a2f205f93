import pytest
import torch
from torch import nn

from mmbeit.models.necks import MoCoV3MLP


def test_projector_layout_matches_paper():
    neck = MoCoV3MLP(in_channels=16, hid_channels=32, out_channels=8, num_layers=3)
    kinds = [type(m).__name__ for m in neck.mlp]
    assert kinds == ['Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'BatchNorm1d', 'ReLU', 'Linear',
                     'BatchNorm1d']
    assert all(m.bias is None for m in neck.mlp if isinstance(m, nn.Linear))
    assert neck.mlp[1].affine and not neck.mlp[-1].affine
    out = neck(torch.randn(4, 16))
    assert isinstance(out, tuple) and out[0].shape == (4, 8)


def test_predictor_without_last_bn_and_resnet_map_input():
    pred = MoCoV3MLP(in_channels=16, hid_channels=32, out_channels=8, num_layers=2,
                     last_bn=False)
    assert [type(m).__name__ for m in pred.mlp] == ['Linear', 'BatchNorm1d', 'ReLU', 'Linear']
    pred.eval()
    fmap = torch.randn(4, 16, 3, 3)
    with torch.no_grad():  # a (B, C, h, w) map is average-pooled first
        torch.testing.assert_close(pred((fmap,))[0], pred(fmap.mean((2, 3)))[0])


def test_bad_input_width_is_reported():
    with pytest.raises(ValueError, match='expects'):
        MoCoV3MLP(in_channels=16)(torch.randn(2, 15))
    with pytest.raises(ValueError, match='num_layers'):
        MoCoV3MLP(in_channels=16, num_layers=0)
