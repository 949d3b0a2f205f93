"""The attention kernels picked for speed compute the same values and gradients."""
import torch
import torch.nn.functional as F

from mmbeit.models.utils import Attention, TransformerBlock
from mmbeit.models.utils.attention import _explicit_attention

HEADS, DIMS, TOKENS = 4, 32, 17


def _qkv_bias(batch: int = 2):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, HEADS, TOKENS, DIMS // HEADS, generator=g).requires_grad_()
               for _ in range(3))
    bias = (torch.randn(1, HEADS, TOKENS, TOKENS, generator=g) * 2).requires_grad_()
    return q, k, v, bias


def _grads(out: torch.Tensor, tensors):
    return torch.autograd.grad(out.square().sum(), tensors)


def test_explicit_attention_matches_sdpa_values_and_all_gradients():
    q, k, v, bias = _qkv_bias()
    ours = _explicit_attention(q, k, v, bias, 0.0)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    for g_ours, g_ref in zip(_grads(ours, (q, k, v, bias)), _grads(ref, (q, k, v, bias))):
        torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-4)


def test_attention_bias_gradient_equal_for_3d_and_4d_bias_with_and_without_grad():
    torch.manual_seed(0)
    attn = Attention(DIMS, HEADS)
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(2, TOKENS, DIMS)
    bias3 = (torch.randn(HEADS, TOKENS, TOKENS) * 2).requires_grad_()
    out3 = attn(x, bias3)  # explicit CPU path (bias needs its gradient)
    (g3,) = torch.autograd.grad(out3.square().sum(), bias3)
    bias4 = bias3.detach().unsqueeze(0).requires_grad_()
    (g4,) = torch.autograd.grad(attn(x, bias4).square().sum(), bias4)
    torch.testing.assert_close(g4[0], g3)
    with torch.no_grad():  # fused SDPA path (no bias gradient needed)
        torch.testing.assert_close(attn(x, bias3), out3.detach(), atol=1e-5, rtol=1e-5)


def test_block_fused_residual_matches_unfused_layer_scale_residual():
    torch.manual_seed(0)
    blk = TransformerBlock(DIMS, HEADS, layer_scale_init_value=0.5).train()
    x = torch.randn(2, TOKENS, DIMS)
    y = blk.attn(blk.norm1(x))
    want = x + blk.gamma_1 * y
    want = want + blk.gamma_2 * blk.mlp(blk.norm2(want))
    torch.testing.assert_close(blk(x), want, atol=1e-6, rtol=1e-6)
