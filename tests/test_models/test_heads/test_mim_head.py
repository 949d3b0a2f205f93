"""MIM heads: CE and accuracy on the masked tokens, shared / separate LM heads."""
import pytest
import torch
import torch.nn.functional as F

from mmbeit.models.heads import BEiTV1Head, BEiTV2Head
from mmbeit.models.losses import masked_token_loss


def test_masked_token_loss_matches_cross_entropy_and_counts_hits():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.0, 5.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 1, 0, 2])
    loss, acc = masked_token_loss(logits, target)
    assert torch.allclose(loss, F.cross_entropy(logits, target))
    assert acc.item() == pytest.approx(0.5)
    assert not acc.requires_grad


def test_masked_token_loss_rejects_misaligned_target():
    with pytest.raises(ValueError, match='logits'):
        masked_token_loss(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))


def test_v1_head_loss_equals_ce_of_lm_head():
    torch.manual_seed(0)
    head = BEiTV1Head(embed_dims=8, num_tokens=16)
    feats, target = torch.randn(10, 8), torch.randint(0, 16, (10,))
    out = head.loss(feats, target)
    assert set(out) == {'loss', 'mlm_acc'}
    assert torch.allclose(out['loss'], F.cross_entropy(head.lm_head(feats), target))
    out['loss'].backward()
    # d CE / d W = (softmax - one_hot)^T feats / N
    residual = torch.softmax(head.lm_head(feats), 1) - F.one_hot(target, 16)
    torch.testing.assert_close(head.lm_head.weight.grad, residual.detach().T @ feats / 10)


@pytest.mark.parametrize('shared', [True, False])
def test_v2_head_shared_or_separate_lm_head(shared):
    torch.manual_seed(0)
    head = BEiTV2Head(embed_dims=8, num_tokens=16, shared_lm_head=shared)
    feats, feats_agg = torch.randn(6, 8), torch.randn(6, 8)
    target = torch.randint(0, 16, (6,))
    out = head.loss(feats, feats_agg, target)
    assert set(out) == {'loss', 'loss_agg', 'mlm_acc', 'mlm_acc_agg'}
    agg_head = head.lm_head if shared else head.lm_head_agg
    assert torch.allclose(out['loss'], F.cross_entropy(head.lm_head(feats), target), atol=1e-6)
    assert torch.allclose(out['loss_agg'], F.cross_entropy(agg_head(feats_agg), target),
                          atol=1e-6)
    assert (head.lm_head_agg is None) == shared
    n_params = sum(p.numel() for p in head.parameters())
    assert n_params == (1 if shared else 2) * (8 * 16 + 16)


def test_v2_head_perfect_logits_give_full_accuracy():
    head = BEiTV2Head(embed_dims=4, num_tokens=4)
    with torch.no_grad():
        head.lm_head.weight.copy_(torch.eye(4) * 10)
        head.lm_head.bias.zero_()
    target = torch.tensor([0, 3, 2, 1])
    feats = torch.eye(4)[target]
    out = head.loss(feats, feats, target)
    assert out['mlm_acc'].item() == 1.0 and out['mlm_acc_agg'].item() == 1.0


@pytest.mark.parametrize('num_tokens', [0, -5])
def test_a_vocabulary_below_one_token_is_refused_at_build(num_tokens):
    from mmbeit.models.tokenizers.quantizer import NormEMAQuantizer

    for build in (lambda: BEiTV1Head(8, num_tokens), lambda: BEiTV2Head(8, num_tokens),
                  lambda: NormEMAQuantizer(num_tokens=num_tokens, dims=4)):
        with pytest.raises(ValueError, match=f'num_tokens .* must be >= 1, got {num_tokens}'):
            build()
