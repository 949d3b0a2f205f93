"""VQ-KD tokenizer (BEiT v2): ViT encoder -> code projection -> normalised EMA quantizer ->
transformer decoder on the token grid -> projection to the teacher's feature size."""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import nn

from mmbeit.registry import MODELS
from mmbeit.utils import load_checkpoint, load_state_dict_report
from mmbeit.utils.checkpoint import RANDOM_WEIGHTS

from ..backbones import ArchMismatchError, BEiTViT
from ..utils import masked_rows
from ..utils.weight_init import init_linear_and_norm
from .quantizer import STAT_BUFFERS, NormEMAQuantizer, QuantizerOutput
from .vqkd_layouts import convert_vqkd_state_dict, vqkd_release_arch

# structure shared by the encoder and decoder ViTs of VQ-KD (official: absolute position
# embedding, no layer scale, no relative position bias, a final LayerNorm)
_VIT_FIXED = dict(pos_embed='learned', layer_scale_init_value=0.0, use_rel_pos_bias=False,
                  use_shared_rel_pos_bias=False, final_norm=True, out_type='raw',
                  with_mask_token=False)
DEFAULT_ENCODER = dict(arch='base', img_size=224, patch_size=16)
DEFAULT_DECODER = dict(embed_dims=768, num_layers=3, num_heads=12)


def task_layer(in_dims: int, out_dims: int) -> nn.Sequential:
    """Linear -> Tanh -> Linear (keys ``0.*`` and ``2.*`` as in the official release)."""
    return nn.Sequential(nn.Linear(in_dims, in_dims), nn.Tanh(), nn.Linear(in_dims, out_dims))


@MODELS.register_module()
class VQKDTokenizer(BaseModule):
    """The VQ-KD visual tokenizer, trainable (with a decoder) and usable as a MIM target.

    Args:
        encoder (dict): :class:`BEiTViT` arguments merged over ``arch='base', img_size=224,
            patch_size=16``; position embedding 'learned', no layer scale, no relative bias.
        num_tokens (int): codebook size K. Defaults to 8192.
        code_dims (int): code dimension D. Defaults to 32.
        decoder (dict, optional): ``embed_dims``, ``num_layers``, ``num_heads`` (``mlp_ratio``,
            ``with_cp``) of the decoder ViT run on the (h, w) code grid with patch size 1.
            Defaults to 768 / 3 / 12. None builds a tokenizer without decoder.
        target_dims (int): decoder output size = teacher feature size (512 CLIP, 768 DINO).
            Defaults to 512.
        quantizer (dict, optional): extra :class:`NormEMAQuantizer` arguments (``decay``,
            ``beta``, ``kmeans_init``, ``dead_code_window``, ...).
        checkpoint (str, optional): a local VQ-KD checkpoint in any layout of
            :mod:`~mmbeit.models.tokenizers.vqkd_layouts` (mmbeit training, official unilm,
            mmpretrain), loaded now. A checkpoint without decoder removes the decoder.
            ``'random'``: random weights, asked for (``tools/train.py`` refuses a BEiT v2
            target generator without weights otherwise).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=PATH)`` loads PATH the
            same way, when ``init_weights`` runs (as the runner does).

    Shapes:
        tokenize: images (B, 3, H, W) in the tokenizer's input range ([-1, 1]) ->
        LongTensor (B, H/p, W/p). reconstruct: images -> features (B, N, target_dims).
    """

    def __init__(self, encoder: Optional[dict] = None, num_tokens: int = 8192,
                 code_dims: int = 32, decoder: Optional[dict] = DEFAULT_DECODER,
                 target_dims: int = 512, quantizer: Optional[dict] = None,
                 checkpoint: Optional[str] = None, init_cfg: Optional[dict] = None) -> None:
        pretrained = None
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            pretrained, init_cfg = init_cfg.get('checkpoint'), None
        super().__init__(init_cfg=init_cfg)
        self.encoder = BEiTViT(**{**DEFAULT_ENCODER, **(encoder or {}), **_VIT_FIXED})
        self.num_tokens, self.code_dims, self.target_dims = num_tokens, code_dims, target_dims
        self.patch_size = self.encoder.patch_size
        self.grid = self.encoder.patch_resolution
        self.encode_task_layer = task_layer(self.encoder.embed_dims, code_dims)
        self.encode_task_layer.autocast_fp32 = True  # runs in fp32: AutocastWeights keeps it
        self.quantize = NormEMAQuantizer(num_tokens, code_dims, **(quantizer or {}))
        self.decoder: Optional[BEiTViT] = None
        self.decode_task_layer: Optional[nn.Sequential] = None
        if decoder is not None:
            settings = {**DEFAULT_DECODER, **decoder}
            with_cp = bool(settings.pop('with_cp', False))
            self.decoder = BEiTViT(arch=settings, img_size=self.grid, patch_size=1,
                                   in_channels=code_dims, with_cp=with_cp, **_VIT_FIXED)
            self.decode_task_layer = task_layer(self.decoder.embed_dims, target_dims)
        self._pretrained = pretrained
        if checkpoint not in (None, RANDOM_WEIGHTS):
            self.load_checkpoint(checkpoint)

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        if self._pretrained is not None:
            self.load_checkpoint(self._pretrained)
            return
        super().init_weights()
        for layer in (self.encode_task_layer, self.decode_task_layer):
            if layer is not None:
                init_linear_and_norm(layer)

    def load_checkpoint(self, path: str) -> Dict[str, list]:
        """Load a local checkpoint of any supported layout (see the class docstring)."""
        checkpoint = load_checkpoint(path)
        state_dict, layout = convert_vqkd_state_dict(checkpoint)
        self._check_release_arch(vqkd_release_arch(checkpoint), path)
        has_decoder = any(k.startswith('decoder.') for k in state_dict)
        if self.decoder is not None and not has_decoder:
            print_log(f'{path} ({layout} layout) has no decoder: tokenizer only',
                      logger='current')
            self.decoder = self.decode_task_layer = None
        elif self.decoder is None:
            state_dict = {k: v for k, v in state_dict.items()
                          if not k.startswith(('decoder.', 'decode_task_layer.'))}
        report = load_state_dict_report(
            self, state_dict, source=f'{path} ({layout} layout)',
            ignore_missing=tuple(f'quantize.{b}' for b in STAT_BUFFERS))
        if not bool(self.quantize.embedding.initted):
            print_log(f'{path}: the codebook was never initialised (initted=0)',
                      logger='current', level=30)
        self._is_init = True  # a parent's init_weights must not overwrite the weights
        self._pretrained = None
        return report

    def _check_release_arch(self, arch: Dict[str, Dict[str, int]], path: str) -> None:
        """Refuse a release whose recorded head counts / decoder size differ from this one's
        (the weights would load and give other tokens)."""
        diff = []
        for part, numbers in arch.items():
            vit = getattr(self, part)
            if vit is None:
                continue
            diff += [f'{part} {k} {v} (tokenizer {getattr(vit, k)})' for k, v in numbers.items()
                     if getattr(vit, k) != v]
        if diff:
            raise ArchMismatchError(f'{path} records another VQ-KD: {", ".join(diff)}; build '
                                    'the tokenizer with those encoder / decoder settings')

    # ------------------------------------------------------------------ forward parts
    def encode_features(self, images: torch.Tensor,
                        rows: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, 3, H, W) -> projected encoder outputs (B, N, D), fp32 (projection in fp32).

        ``rows`` (B, R): token indices (1 = the first patch) whose outputs the last encoder
        block computes alone -> (B, R, D).
        """
        if images.ndim != 4:
            raise ValueError(f'expected images (B, 3, H, W), got {tuple(images.shape)}')
        last = self.encoder.num_layers - 1
        tokens = self.encoder.forward_tokens(images, None, [last], last_rows=rows)[last]
        if rows is None:
            tokens = tokens[:, 1:]
        with torch.autocast(images.device.type, enabled=False):
            return self.encode_task_layer(tokens.float())

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, N, D) codes on the (h, w) grid -> (B, N, target_dims) predicted features."""
        if self.decoder is None:
            raise RuntimeError('this VQ-KD tokenizer has no decoder (decoder=None or a '
                               'checkpoint without one)')
        b, n, d = codes.shape
        h, w = self.grid
        if n != h * w:
            raise ValueError(f'{n} codes per image, the decoder grid is {h}x{w}')
        grid = codes.transpose(1, 2).reshape(b, d, h, w)
        last = self.decoder.num_layers - 1
        tokens = self.decoder.forward_tokens(grid, None, [last])[last][:, 1:]
        return self.decode_task_layer(tokens)

    def reconstruct(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Training forward: ``features`` (B, N, target_dims), ``ids`` (B, h, w),
        ``loss_commit`` () and, with the quantizer's ``entropy_weight``, ``loss_entropy`` ();
        updates the codebook in training mode."""
        z = self.encode_features(images)
        out: QuantizerOutput = self.quantize(z)
        features = self.decode(out.quantized)
        result = dict(features=features, ids=out.ids.view(-1, *self._grid_of(images)),
                      loss_commit=out.loss_commit)
        if out.loss_entropy is not None:
            result['loss_entropy'] = out.loss_entropy
        return result

    def _grid_of(self, images: torch.Tensor):
        return images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size

    @torch.no_grad()
    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [-1, 1] -> LongTensor (B, H/p, W/p); fp32 quantisation."""
        z = self.encode_features(images)
        return self.quantize.lookup(z).view(-1, *self._grid_of(images))

    @torch.no_grad()
    def tokenize_masked(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Ids (M,) of the masked positions only, in row-major order: images (B, 3, H, W) in
        [-1, 1], mask (B, H/p * W/p) bool. With the same count in every image, the last
        encoder block and the quantizer see the masked tokens alone (the ids equal
        ``tokenize(images)`` at those positions)."""
        h, w = self._grid_of(images)
        if mask.shape != (images.shape[0], h * w):
            raise ValueError(f'the mask is {tuple(mask.shape)}; the tokenizer gives a {h}x{w} '
                             f'grid for {tuple(images.shape[-2:])} images, so it must be '
                             f'({images.shape[0]}, {h * w}): match the tokenizer view size to '
                             'the backbone patch grid')
        rows = masked_rows(mask)
        if rows is None:
            return self.tokenize(images).reshape(-1)[mask.reshape(-1)]
        return self.quantize.lookup(self.encode_features(images, rows)).reshape(-1)

    @torch.no_grad()
    def decode_features(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (B, h, w) -> the decoder's (B, h*w, target_dims) features."""
        codes = self.quantize.embedding(ids.flatten(1))
        return self.decode(codes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.tokenize(images)

