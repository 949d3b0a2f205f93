import torch
import torch.nn.functional as F

from mmbeit.models.heads import MoCoV3ContrastiveHead
from mmbeit.models.losses import infonce_loss
from tests.dist_utils import run_distributed


def _batch(n: int = 8, c: int = 6, in_c: int = 5):
    gen = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(n, in_c, generator=gen), torch.randn(n, in_c, generator=gen)
    k1, k2 = torch.randn(n, c, generator=gen), torch.randn(n, c, generator=gen)
    weight = torch.randn(c, in_c, generator=gen)
    return x1, x2, k1, k2, weight


def _loss_and_grad(x1, x2, k1, k2, weight):
    w = weight.clone().requires_grad_()
    loss = MoCoV3ContrastiveHead(temperature=0.2).loss(x1 @ w.t(), x2 @ w.t(), k1, k2)['loss']
    loss.backward()
    return loss.detach(), w.grad


def test_infonce_matches_explicit_formula():
    _, _, q, k, _ = _batch()
    t = 0.2
    qn, kn = F.normalize(q, dim=1), F.normalize(k, dim=1)
    logits = qn @ kn.t() / t
    expected = -torch.log_softmax(logits, dim=1).diagonal().mean() * 2 * t
    assert torch.allclose(infonce_loss(q, k, t), expected, atol=1e-6)


def test_keys_get_no_gradient_and_aligned_pairs_score_lower():
    q = torch.randn(8, 6, requires_grad=True)
    k = torch.randn(8, 6, requires_grad=True)
    infonce_loss(q, k, 0.2).backward()
    assert k.grad is None
    q_ref = q.detach().clone().requires_grad_()
    logits = F.normalize(q_ref, dim=1) @ F.normalize(k.detach(), dim=1).t() / 0.2
    (-torch.log_softmax(logits, dim=1).diagonal().mean() * 2 * 0.2).backward()
    torch.testing.assert_close(q.grad, q_ref.grad)
    assert infonce_loss(k.detach(), k.detach(), 0.2) < infonce_loss(q.detach(), k.detach(), 0.2)


def _two_rank_worker(rank, world_size):
    x1, x2, k1, k2, weight = _batch(n=8)
    part = slice(4 * rank, 4 * rank + 4)  # this rank's half of the global batch
    loss, grad = _loss_and_grad(x1[part], x2[part], k1[part], k2[part], weight)
    torch.distributed.all_reduce(grad)  # DDP averages gradients over ranks
    torch.distributed.all_reduce(loss)
    return dict(loss=loss / world_size, grad=grad / world_size)


def test_two_ranks_equal_single_process_on_the_concatenated_batch(tmp_path):
    single_loss, single_grad = _loss_and_grad(*_batch(n=8))
    results = run_distributed(_two_rank_worker, 2, tmp_path)
    for res in results:
        assert torch.allclose(res['loss'], single_loss, atol=1e-6)
        assert torch.allclose(res['grad'], single_grad, atol=1e-6)
