"""BEiT v1 / v2 algorithms: loss on masked tokens only, frozen two-view tokenizer, checks."""
import copy
import sys

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmbeit.registry import MODELS

EMBED, GRID = 16, 4  # 16 px / patch 4 -> 4x4 grid


def _v2_cfg(**overrides):
    cfg = dict(
        type='BEiTV2',
        backbone=dict(type='BEiTViT', arch=dict(embed_dims=EMBED, num_layers=3, num_heads=2),
                      img_size=16, patch_size=4, with_mask_token=True, final_norm=False,
                      out_indices=[1, 2], layer_scale_init_value=0.1),
        neck=dict(type='PatchAggregationNeck', embed_dims=EMBED, num_heads=2, num_layers=1,
                  early_layers=2),
        head=dict(type='BEiTV2Head', embed_dims=EMBED, num_tokens=32),
        target_generator=dict(type='RandomProjectionTokenizer', num_tokens=32, patch_size=2,
                              embed_dims=8),
        data_preprocessor=dict(type='TwoNormDataPreprocessor', mean=[127.5] * 3,
                               std=[127.5] * 3, second_mean=[0.0] * 3, second_std=[255.0] * 3,
                               to_rgb=False))
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def _v1_cfg():
    cfg = _v2_cfg(type='BEiT', neck=None,
                  head=dict(type='BEiTV1Head', embed_dims=EMBED, num_tokens=32))
    cfg['backbone'].update(final_norm=True, out_indices=[-1])
    return cfg


def _batch(b=3, seed=0, per_image=None):
    """Two views and masks: random (different counts per image), or ``per_image`` masked
    cells in every image (BEiT v2's exact block-mask counts)."""
    g = torch.Generator().manual_seed(seed)
    view1 = torch.randn(b, 3, 16, 16, generator=g)
    view2 = torch.rand(b, 3, 8, 8, generator=g)  # the tokenizer view: other size and scale
    if per_image is None:
        mask = torch.rand(b, GRID, GRID, generator=g) < 0.4
        mask[:, 0, 0] = True
    else:
        mask = torch.zeros(b, GRID * GRID, dtype=torch.bool)
        for row in mask:
            row[torch.randperm(GRID * GRID, generator=g)[:per_image]] = True
        mask = mask.view(b, GRID, GRID)
    samples = []
    for m in mask:
        ds = DataSample()
        ds.set_mask(m)
        samples.append(ds)
    return [view1, view2], samples, mask


def _reference_logits(model, view1, mask):
    """Logits of every patch token, computed the long way, and their target ids."""
    tokens = model.backbone.forward_tokens(view1, mask)
    last = tokens[model.backbone.num_layers - 1]
    if model.with_neck:
        bias = model.backbone.rel_pos_bias()
        x = torch.cat([last[:, :1], tokens[model.neck.early_index][:, 1:]], dim=1)
        for blk in model.neck.blocks:
            x = blk(x, bias)
        return (model.head.lm_head(model.neck.norm(last[:, 1:])),
                model.head.lm_head(model.neck.norm(x[:, 1:])))
    return (model.head.lm_head(last[:, 1:]),)


@pytest.mark.parametrize('per_image', [None, 6], ids=['ragged', 'same-count'])
@pytest.mark.parametrize('cfg_fn', [_v1_cfg, _v2_cfg], ids=['v1', 'v2'])
def test_loss_equals_ce_over_masked_positions_of_full_logits(cfg_fn, per_image):
    torch.manual_seed(0)
    model = MODELS.build(cfg_fn())
    model.init_weights()
    model.eval()  # no dropout: compare exactly
    inputs, samples, mask = _batch(per_image=per_image)
    losses = model.loss(inputs, samples)
    target = model.target_generator.tokenize(inputs[1]).flatten(1)[mask.flatten(1)]
    ref = [logits[mask.flatten(1)] for logits in _reference_logits(model, inputs[0], mask)]
    assert torch.allclose(losses['loss'], F.cross_entropy(ref[0], target), atol=1e-5)
    acc = (ref[0].argmax(1) == target).float().mean()
    assert losses['mlm_acc'].item() == pytest.approx(acc.item())
    if len(ref) == 2:
        assert torch.allclose(losses['loss_agg'], F.cross_entropy(ref[1], target), atol=1e-5)
        assert 'mlm_acc_agg' in losses
    else:
        assert 'loss_agg' not in losses


def test_tokenizer_stays_frozen_and_in_eval_mode():
    model = MODELS.build(_v2_cfg())
    model.train()
    assert not model.target_generator.training
    assert all(not p.requires_grad for p in model.target_generator.parameters())
    inputs, samples, _ = _batch()
    inputs[1].requires_grad_(True)
    losses = model.loss(inputs, samples)
    (losses['loss'] + losses['loss_agg']).backward()
    assert inputs[1].grad is None  # no graph through the tokenizer view
    # the masked cells' token and the aggregation neck are trained
    assert model.backbone.mask_token.grad.abs().max() > 0
    assert model.neck.blocks[0].attn.qkv.weight.grad.abs().max() > 0


def test_train_step_through_two_norm_preprocessor_uses_each_views_normalisation():
    torch.manual_seed(0)
    model = MODELS.build(_v2_cfg())
    _, samples, _ = _batch(b=2)
    view1 = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    view2 = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    data = dict(inputs=[view1, view2], data_samples=samples)
    processed = model.data_preprocessor(copy.deepcopy(data), training=True)
    assert torch.allclose(processed['inputs'][0], (view1.float() - 127.5) / 127.5)
    assert torch.allclose(processed['inputs'][1], view2.float() / 255.0)
    model.eval()  # no drop path: the same numbers on both routes
    losses = model(**processed, mode='loss')
    # the same losses as the model fed views normalised by hand, each with its own statistics
    want = model.loss([(view1.float() - 127.5) / 127.5, view2.float() / 255.0], samples)
    for key in ('loss', 'loss_agg', 'mlm_acc', 'mlm_acc_agg'):
        torch.testing.assert_close(losses[key], want[key], msg=key)


def _loss_and_grads(model, inputs, samples, bf16: bool):
    model.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        losses = model.loss(inputs, samples)
    (losses['loss'] + losses['loss_agg']).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return losses['loss'], grads


def test_bf16_autocast_loss_and_grads_close_to_fp32():
    torch.manual_seed(0)
    model = MODELS.build(_v2_cfg())
    model.init_weights()
    model.eval()  # no drop path: both runs see the same network
    inputs, samples, _ = _batch()
    loss, grads = _loss_and_grads(model, inputs, samples, bf16=False)
    low, low_grads = _loss_and_grads(model, inputs, samples, bf16=True)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(loss.item(), rel=0.02)
    assert low_grads.keys() == grads.keys()
    flat, low_flat = (torch.cat([g[n].flatten() for n in grads]) for g in (grads, low_grads))
    assert F.cosine_similarity(low_flat, flat, dim=0) > 0.99


@pytest.mark.parametrize('cfg_fn', [_v1_cfg, _v2_cfg], ids=['v1', 'v2'])
def test_last_blocks_on_masked_rows_give_the_full_computations_losses_and_grads(
        cfg_fn, monkeypatch):
    """With the same mask count per image the last backbone / neck block computes only the
    rows the loss reads; the losses and every gradient equal the all-token route's."""
    torch.manual_seed(0)
    cfg = cfg_fn()
    cfg['backbone']['drop_path_rate'] = 0.3  # the per-image draws must line up too
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    inputs, samples, _ = _batch(b=4, per_image=7)

    def run():
        model.zero_grad()
        torch.manual_seed(1)
        losses = model.loss(inputs, samples)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        return losses, {n: p.grad.clone() for n, p in model.named_parameters()
                        if p.grad is not None}

    rows_losses, rows_grads = run()
    beit_module = sys.modules[type(model).__module__]
    monkeypatch.setattr(beit_module, 'masked_rows', lambda mask: None)  # all tokens
    full_losses, full_grads = run()
    for key in full_losses:
        torch.testing.assert_close(rows_losses[key], full_losses[key], atol=1e-5, rtol=1e-5)
    assert rows_grads.keys() == full_grads.keys()
    for name, grad in full_grads.items():
        torch.testing.assert_close(rows_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_masked_rows_route_under_activation_checkpointing_gives_the_same_grads():
    inputs, samples, _ = _batch(b=4, per_image=7)
    results = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        cfg = _v2_cfg()
        cfg['backbone'].update(with_cp=with_cp, drop_path_rate=0.3)
        cfg['neck'].update(with_cp=with_cp)
        model = MODELS.build(cfg)
        model.init_weights()
        model.train()
        torch.manual_seed(1)
        losses = model.loss(inputs, samples)
        (losses['loss'] + losses['loss_agg']).backward()
        results.append((losses['loss'].detach(),
                        {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (loss, grads), (loss_cp, grads_cp) = results
    torch.testing.assert_close(loss_cp, loss, atol=0, rtol=0)
    assert grads_cp.keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grads_cp[name], grad, atol=1e-6, rtol=1e-5, msg=name)


def test_last_blocks_on_masked_rows_skip_the_unmasked_rows_flops():
    from torch.utils.flop_counter import FlopCounterMode
    model = MODELS.build(_v2_cfg()).eval()
    flops = {}
    for per_image in (4, GRID * GRID):  # every cell masked: the last blocks see every row
        inputs, samples, _ = _batch(per_image=per_image)
        with FlopCounterMode(display=False) as counter:
            model.loss(inputs, samples)
        flops[per_image] = counter.get_total_flops()
    assert flops[4] < flops[GRID * GRID]


def test_frozen_cast_once_is_opt_in_and_gives_the_same_losses():
    torch.manual_seed(0)
    cfg = _v2_cfg()
    cfg['target_generator'] = dict(
        type='VQKDTokenizer', encoder=dict(arch=dict(embed_dims=16, num_layers=2, num_heads=2),
                                           img_size=8, patch_size=2),
        num_tokens=32, code_dims=8, decoder=None)
    default = MODELS.build(cfg)
    default.init_weights()
    assert default._tokenizer_autocast is None  # no copy held: no extra memory
    cached = MODELS.build(dict(cfg, frozen_cast_once=True))
    cached.load_state_dict(default.state_dict())
    default.eval(), cached.eval()
    inputs, samples, _ = _batch(per_image=5)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        want, got = default.loss(inputs, samples), cached.loss(inputs, samples)
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=0, rtol=0, msg=key)
    assert cached._tokenizer_autocast._copy is not None


def test_build_fails_when_neck_and_backbone_disagree():
    cfg = _v2_cfg()
    cfg['backbone']['out_indices'] = [0, 2]  # neck wants block 1 (early_layers=2)
    with pytest.raises(ValueError, match=r'out_indices=\[1, 2\]'):
        MODELS.build(cfg)


def test_build_fails_on_vocabulary_mismatch_and_v2_without_neck():
    cfg = _v2_cfg()
    cfg['head']['num_tokens'] = 64
    with pytest.raises(ValueError, match='num_tokens'):
        MODELS.build(cfg)
    with pytest.raises(ValueError, match='needs a neck'):
        MODELS.build(_v2_cfg(neck=None))


def test_tokenizer_grid_must_match_the_mask():
    cfg = _v2_cfg()
    cfg['target_generator']['patch_size'] = 4  # 8 px view -> 2x2 grid, mask is 4x4
    model = MODELS.build(cfg)
    inputs, samples, _ = _batch()
    with pytest.raises(ValueError, match='tokenizer gives a'):
        model.loss(inputs, samples)


def test_tensor_mode_returns_backbone_features_of_view_one():
    model = MODELS.build(_v1_cfg()).eval()
    inputs, _, _ = _batch()
    feats = model(inputs, mode='tensor')
    assert feats[0].shape == (3, 1 + GRID * GRID, EMBED)


def _digits(digits_root, split, n=None):
    """Digits images as a (n, 3, 32, 32) tensor in [-1, 1]."""
    import numpy as np
    from PIL import Image

    files = (digits_root / 'meta' / f'{split}.txt').read_text().split()[0::2][:n]
    imgs = np.stack([np.asarray(Image.open(digits_root / rel)) for rel in files])
    return (torch.from_numpy(imgs).permute(0, 3, 1, 2).float() - 127.5) / 127.5


def _block_masks(gen, n):
    samples = []
    for _ in range(n):
        ds = DataSample()
        ds.set_mask(gen({})['mask'])
        samples.append(ds)
    return samples


@pytest.mark.slow
def test_tiny_beitv2_on_digits_predicts_masked_tokens_above_chance(digits_root):
    """A tiny BEiT v2 (random frozen tokenizer) learns to predict masked digit tokens.

    Chance is the best constant guess (the most frequent target token of the masked cells,
    ~30 %), not 1/V; the run must beat it clearly and its own start.
    """
    import random

    import numpy as np
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    from mmbeit.registry import TRANSFORMS

    cfg = Config.fromfile('configs/beitv2/beitv2_vit-tiny-p4_1xb64-coslr-30e_digits.py')
    cfg.model.backbone.update(arch=dict(embed_dims=64, num_layers=4, num_heads=4),
                              out_indices=[2, 3])
    cfg.model.neck.update(embed_dims=64, early_layers=3)
    cfg.model.head.update(embed_dims=64, num_tokens=16)
    cfg.model.target_generator.num_tokens = 16
    mask_cfg = dict(type='BlockwiseMaskGenerator', input_size=8, num_masking_patches=26,
                    min_num_patches=4, mode='exact')
    gen = TRANSFORMS.build(mask_cfg)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    cfg.optim_wrapper.optimizer.lr = 3e-3
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    train, val = _digits(digits_root, 'train'), _digits(digits_root, 'val', 256)
    val_masks = _block_masks(gen, len(val))

    def evaluate():
        model.eval()
        with torch.no_grad():
            acc = model.loss([val, val], val_masks)['mlm_acc'].item()
        model.train()
        return acc

    start_acc = evaluate()
    iters, batch = 120, 64
    sched = torch.optim.lr_scheduler.OneCycleLR(optim.optimizer, 3e-3, total_steps=iters,
                                                pct_start=0.1)
    for _ in range(iters):
        x = train[torch.randint(0, len(train), (batch,))]
        losses = model.loss([x, x], _block_masks(gen, batch))
        optim.update_params(losses['loss'] + losses['loss_agg'])
        sched.step()
    final_acc = evaluate()

    mask = torch.stack([torch.as_tensor(s.mask) for s in val_masks]).bool().flatten(1)
    target = model.target_generator.tokenize(val).flatten(1)[mask]
    constant_acc = (torch.bincount(target).max() / target.numel()).item()
    assert final_acc > start_acc + 0.2, (start_acc, final_acc)
    assert final_acc > constant_acc + 0.05, (constant_acc, final_acc)
