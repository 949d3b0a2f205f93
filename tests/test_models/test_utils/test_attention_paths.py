"""The attention kernels picked for speed compute the same values and gradients, and the
row-restricted attention / block (a MIM model's last block) equals the full one at those rows."""
import pytest
import torch
import torch.nn.functional as F

from mmbeit.models.utils import Attention, TransformerBlock
from mmbeit.models.utils import attention as attention_module
from mmbeit.models.utils.attention import attention, bias_rows, explicit_attention, gather_rows

HEADS, DIMS, TOKENS = 4, 32, 17


def _qkv_bias(batch: int = 2, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, HEADS, TOKENS, DIMS // HEADS, generator=g).to(dtype)
               .requires_grad_() for _ in range(3))
    bias = (torch.randn(1, HEADS, TOKENS, TOKENS, generator=g) * 2).to(dtype).requires_grad_()
    return q, k, v, bias


def _grads(out: torch.Tensor, tensors):
    return torch.autograd.grad(out.float().square().sum(), tensors)


def _uses_fused_kernel(monkeypatch, fn) -> bool:
    """Whether ``fn()`` calls ``F.scaled_dot_product_attention``."""
    calls = []
    sdpa = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(F, 'scaled_dot_product_attention', spy)
        fn()
    return bool(calls)


def test_explicit_attention_matches_sdpa_values_and_all_gradients():
    q, k, v, bias = _qkv_bias()
    ours = explicit_attention(q, k, v, bias, 0.0)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    for g_ours, g_ref in zip(_grads(ours, (q, k, v, bias)), _grads(ref, (q, k, v, bias))):
        torch.testing.assert_close(g_ours, g_ref, atol=1e-4, rtol=1e-4)


def test_kernel_choice_on_cpu(monkeypatch):
    q, k, v, bias = _qkv_bias()
    qb, kb, vb, biasb = (t.detach().bfloat16() for t in (q, k, v, bias))

    def fused(fn):
        return _uses_fused_kernel(monkeypatch, fn)

    # bf16: the explicit form, with and without gradients (the fused CPU kernel is slower)
    assert not fused(lambda: attention(qb, kb, vb))
    assert not fused(lambda: attention(qb.requires_grad_(), kb, vb, biasb))
    # fp32: the fused kernel, unless the bias needs its gradient
    with torch.no_grad():
        assert fused(lambda: attention(q, k, v, bias))
    assert fused(lambda: attention(q, k, v, bias.detach()))
    assert not fused(lambda: attention(q, k, v, bias))


def test_bf16_explicit_path_matches_fp32_reference():
    q, k, v, bias = _qkv_bias(dtype=torch.bfloat16)
    ours = attention(q, k, v, bias)
    ref = F.scaled_dot_product_attention(*(t.detach().float() for t in (q, k, v, bias)))
    torch.testing.assert_close(ours.float(), ref, atol=3e-2, rtol=3e-2)


@pytest.mark.parametrize('per_image_bias', [False, True])
def test_chunked_no_grad_attention_equals_one_pass(monkeypatch, per_image_bias):
    q, k, v, bias = (t.detach() for t in _qkv_bias(batch=5, dtype=torch.bfloat16))
    if per_image_bias:
        bias = bias.expand(5, -1, -1, -1) + torch.arange(5.).view(5, 1, 1, 1).bfloat16()
    whole = explicit_attention(q, k, v, bias)
    # 2 images per chunk: 3 chunks, the last one short
    monkeypatch.setattr(attention_module, 'SCORE_CHUNK', 2 * HEADS * TOKENS * TOKENS)
    with torch.no_grad():
        chunked = attention(q, k, v, bias)
    torch.testing.assert_close(chunked, whole, atol=0, rtol=0)


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


def _rows(batch: int = 2, count: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.stack([torch.randperm(TOKENS, generator=g)[:count].sort().values
                        for _ in range(batch)])


def test_gather_rows_and_bias_rows_pick_each_images_rows():
    x = torch.randn(2, TOKENS, 3, 5)
    rows = _rows()
    for b in range(2):
        torch.testing.assert_close(gather_rows(x, rows)[b], x[b, rows[b]], atol=0, rtol=0)
    bias = torch.randn(1, HEADS, TOKENS, TOKENS)
    picked = bias_rows(bias, rows)
    assert picked.shape == (2, HEADS, rows.shape[1], TOKENS)
    for b in range(2):
        torch.testing.assert_close(picked[b], bias[0][:, rows[b]], atol=0, rtol=0)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_attention_rows_equal_full_attention_at_those_rows(dtype):
    torch.manual_seed(0)
    attn = Attention(DIMS, HEADS)
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(2, TOKENS, DIMS)
    bias = (torch.randn(1, HEADS, TOKENS, TOKENS) * 2).requires_grad_()
    rows = _rows()
    params = [x.requires_grad_(), bias, *attn.parameters()]
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        full = gather_rows(attn(x, bias), rows)
        part = attn(x, bias, rows)
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(part, full, **tol)
    for g_part, g_full in zip(_grads(part, params), _grads(full, params)):
        torch.testing.assert_close(g_part, g_full, **tol)


def test_block_rows_equal_full_block_at_those_rows_with_drop_path():
    torch.manual_seed(0)
    blk = TransformerBlock(DIMS, HEADS, layer_scale_init_value=0.5, drop_path_rate=0.5,
                           window_size=(4, 4)).train()
    torch.nn.init.normal_(blk.rel_pos_bias.relative_position_bias_table)
    x = torch.randn(4, TOKENS, DIMS, requires_grad=True)
    rows = _rows(batch=4)
    torch.manual_seed(1)
    full = gather_rows(blk(x), rows)
    torch.manual_seed(1)  # the same per-image drop-path draws
    part = blk(x, rows=rows)
    torch.testing.assert_close(part, full, atol=1e-5, rtol=1e-5)
    params = [x, *blk.parameters()]
    for g_part, g_full in zip(_grads(part, params), _grads(full, params)):
        torch.testing.assert_close(g_part, g_full, atol=1e-5, rtol=1e-5)


def test_block_fused_residual_matches_unfused_layer_scale_residual():
    torch.manual_seed(0)
    blk = TransformerBlock(DIMS, HEADS, layer_scale_init_value=0.5).train()
    x = torch.randn(2, TOKENS, DIMS)
    y = blk.attn(blk.norm1(x))
    want = x + blk.gamma_1 * y
    want = want + blk.gamma_2 * blk.mlp(blk.norm2(want))
    torch.testing.assert_close(blk(x), want, atol=1e-6, rtol=1e-6)
