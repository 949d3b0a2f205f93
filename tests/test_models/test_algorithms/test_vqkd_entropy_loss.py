"""VQKD with the quantizer's entropy regulariser: ``loss_entropy`` is a training loss that
reaches the encoder and only the encoder side."""
from __future__ import annotations

import torch
from mmengine.model import BaseModel
from torch import nn

from mmbeit.models.algorithms import VQKD


class PatchTeacher(nn.Module):
    """(B, 3, 32, 32) in [0, 1] -> (B, 16, 32) patch features."""

    out_dims = 32

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.reshape(images.shape[0], 16, -1)[..., :32]


def _model(**quantizer) -> VQKD:
    tokenizer = dict(type='VQKDTokenizer', encoder=dict(
        arch=dict(embed_dims=32, num_layers=1, num_heads=2), img_size=32, patch_size=8),
        num_tokens=8, code_dims=4, decoder=dict(embed_dims=32, num_layers=1, num_heads=2),
        target_dims=32, quantizer=quantizer)
    return VQKD(tokenizer=tokenizer, teacher=PatchTeacher()).train()


def test_entropy_loss_is_reported_summed_and_reaches_the_encoder_only():
    torch.manual_seed(0)
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    assert 'loss_entropy' not in _model().loss(images)
    model = _model(entropy_weight=0.1, entropy_temperature=0.1)
    losses = model.loss(images)
    total, log_vars = BaseModel.parse_losses(model, losses)
    assert 'loss_entropy' in log_vars
    assert torch.allclose(total, losses['loss_cos'] + losses['loss_commit']
                          + losses['loss_entropy'])
    losses['loss_entropy'].backward()
    tokenizer = model.tokenizer
    assert tokenizer.encode_task_layer[2].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in tokenizer.decoder.parameters())
    assert model.eval().loss(images).get('loss_entropy') is None
